use super::*;

fn agents() -> Vec<AgentItem> {
    vec![
        AgentItem {
            name: "cursor".into(),
            display_name: "Cursor".into(),
            installed: false,
            configured: true,
        },
        AgentItem {
            name: "zed".into(),
            display_name: "Zed".into(),
            installed: true,
            configured: false,
        },
    ]
}

fn signed_out() -> CoreState {
    CoreState {
        relay: RelayState::SignedOut,
        agents: agents(),
        autostart: Some(false),
        ..CoreState::starting()
    }
}

fn connected() -> CoreState {
    CoreState {
        signed_in: true,
        username: Some("alice".into()),
        deployment: Some("https://coder.example.com/".into()),
        relay: RelayState::Connected,
        ..signed_out()
    }
}

fn label_of(model: &MenuModel, id: &str) -> String {
    let item = model
        .items
        .iter()
        .find(|item| item.id() == Some(id))
        .unwrap_or_else(|| panic!("no item {id} in {model:#?}"));
    match item {
        Item::Label { text, .. } => text.clone(),
        Item::Action { label, .. } | Item::Submenu { label, .. } => label.clone(),
        Item::Separator => unreachable!("separators have no id"),
    }
}

fn enabled(model: &MenuModel, id: &str) -> bool {
    let found = model.items.iter().find_map(|item| match item {
        Item::Action {
            id: item_id,
            enabled,
            ..
        }
        | Item::Submenu {
            id: item_id,
            enabled,
            ..
        } if item_id == id => Some(*enabled),
        _ => None,
    });
    found.unwrap_or_else(|| panic!("no actionable item {id}"))
}

fn ids(model: &MenuModel) -> Vec<&str> {
    model.items.iter().filter_map(Item::id).collect()
}

fn agent_items(model: &MenuModel) -> Vec<(String, bool)> {
    let Some(Item::Submenu { items, .. }) = model
        .items
        .iter()
        .find(|item| item.id() == Some(ids::AGENTS))
    else {
        panic!("no agents submenu");
    };
    items
        .iter()
        .map(|item| match item {
            Item::Action {
                label,
                checked: Some(checked),
                ..
            } => (label.clone(), *checked),
            other => panic!("unexpected agent item {other:?}"),
        })
        .collect()
}

#[test]
fn signed_out_offers_sign_in_and_shows_the_grey_icon() {
    let model = tray_menu_model(&signed_out());
    assert_eq!(model.icon, IconState::SignedOut);
    assert_eq!(label_of(&model, ids::STATUS), "Signed out");
    assert_eq!(
        ids(&model),
        [
            ids::STATUS,
            ids::SIGN_IN,
            ids::OPEN_DASHBOARD,
            ids::AGENTS,
            ids::PAUSE,
            ids::AUTOSTART,
            ids::QUIT
        ]
    );
    assert!(enabled(&model, ids::SIGN_IN));
    assert_eq!(model.action_for(ids::SIGN_IN), Some(&Action::SignIn));
    assert_eq!(model.action_for(ids::SIGN_OUT), None);
    assert_eq!(model.tooltip, "Coder Bridge — Signed out");
}

#[test]
fn connected_shows_user_at_deployment_and_offers_sign_out() {
    let model = tray_menu_model(&connected());
    assert_eq!(model.icon, IconState::Connected);
    assert_eq!(label_of(&model, ids::STATUS), "alice @ coder.example.com");
    assert_eq!(model.action_for(ids::SIGN_OUT), Some(&Action::SignOut));
    assert_eq!(model.action_for(ids::SIGN_IN), None);
    assert_eq!(label_of(&model, ids::OPEN_DASHBOARD), "Open dashboard");
    // One entry per agent, checked when configured, installed ones (Zed
    // here) first; choosing it toggles.
    assert_eq!(
        agent_items(&model),
        [("Zed".to_owned(), false), ("Cursor".to_owned(), true)]
    );
    assert_eq!(
        model.action_for("agent:cursor"),
        Some(&Action::ToggleAgent {
            name: "cursor".into(),
            configured: true
        })
    );
    assert_eq!(
        model.action_for("agent:zed"),
        Some(&Action::ToggleAgent {
            name: "zed".into(),
            configured: false
        })
    );
    assert!(enabled(&model, ids::AGENTS));
}

#[test]
fn connecting_and_local_deployments_keep_the_port_and_say_so() {
    let state = CoreState {
        deployment: Some("http://127.0.0.1:3000".into()),
        relay: RelayState::Connecting,
        ..connected()
    };
    let model = tray_menu_model(&state);
    assert_eq!(model.icon, IconState::Connected);
    assert_eq!(
        label_of(&model, ids::STATUS),
        "alice @ 127.0.0.1:3000 (connecting…)"
    );
}

#[test]
fn waiting_for_consent_takes_the_icon_and_counts_the_calls() {
    let one = CoreState {
        pending_consent: 1,
        ..connected()
    };
    let model = tray_menu_model(&one);
    assert_eq!(model.icon, IconState::WaitingForConsent);
    assert_eq!(
        label_of(&model, ids::STATUS),
        "alice @ coder.example.com · 1 call waiting for you"
    );
    assert_eq!(
        label_of(&model, ids::OPEN_DASHBOARD),
        "Open dashboard (1 waiting)"
    );

    // Consent outranks a relay error: an agent is blocked on the user now.
    let three = CoreState {
        pending_consent: 3,
        relay: RelayState::Error("upstream unreachable".into()),
        ..connected()
    };
    let model = tray_menu_model(&three);
    assert_eq!(model.icon, IconState::WaitingForConsent);
    assert!(label_of(&model, ids::STATUS).ends_with("3 calls waiting for you"));
}

#[test]
fn relay_error_shows_the_error_icon_and_reason() {
    let state = CoreState {
        relay: RelayState::from_view(&RelayStatus::Error, Some("Coder answered 503")),
        ..connected()
    };
    let model = tray_menu_model(&state);
    assert_eq!(model.icon, IconState::Error);
    assert_eq!(
        label_of(&model, ids::STATUS),
        "alice @ coder.example.com — Coder answered 503"
    );
    assert_eq!(model.action_for(ids::SIGN_OUT), Some(&Action::SignOut));
}

#[test]
fn expired_session_is_an_error_that_offers_sign_in() {
    let state = CoreState {
        session_expired: true,
        ..signed_out()
    };
    let model = tray_menu_model(&state);
    assert_eq!(model.icon, IconState::Error);
    assert_eq!(
        label_of(&model, ids::STATUS),
        "Session expired — sign in again"
    );
    assert_eq!(model.action_for(ids::SIGN_IN), Some(&Action::SignIn));
}

#[test]
fn a_core_that_did_not_start_leaves_only_quit() {
    let state = CoreState {
        start_error: Some("port 7331 is in use".into()),
        ..signed_out()
    };
    let model = tray_menu_model(&state);
    assert_eq!(model.icon, IconState::Error);
    assert_eq!(
        label_of(&model, ids::STATUS),
        "Not running: port 7331 is in use"
    );
    for id in [ids::SIGN_IN, ids::OPEN_DASHBOARD, ids::AGENTS, ids::PAUSE] {
        assert!(!enabled(&model, id), "{id} should be disabled");
    }
    assert!(enabled(&model, ids::QUIT));
}

#[test]
fn autostart_is_a_check_item_disabled_when_unknown() {
    let on = CoreState {
        autostart: Some(true),
        ..connected()
    };
    let model = tray_menu_model(&on);
    assert_eq!(
        model.action_for(ids::AUTOSTART),
        Some(&Action::ToggleAutostart { enabled: true })
    );
    assert!(enabled(&model, ids::AUTOSTART));

    let unknown = CoreState {
        autostart: None,
        ..connected()
    };
    assert!(!enabled(&tray_menu_model(&unknown), ids::AUTOSTART));
}

#[test]
fn no_agents_disables_the_submenu() {
    let state = CoreState {
        agents: Vec::new(),
        ..connected()
    };
    let model = tray_menu_model(&state);
    assert!(!enabled(&model, ids::AGENTS));
    assert!(agent_items(&model).is_empty());
}

#[test]
fn relay_state_parses_every_status_value() {
    assert_eq!(
        RelayState::from_view(&RelayStatus::Connected, None),
        RelayState::Connected
    );
    assert_eq!(
        RelayState::from_view(&RelayStatus::Connecting, None),
        RelayState::Connecting
    );
    assert_eq!(
        RelayState::from_view(&RelayStatus::SignedOut, None),
        RelayState::SignedOut
    );
    assert_eq!(
        RelayState::from_view(&RelayStatus::Error, None),
        RelayState::Error("the relay reported an error".into())
    );
}

#[test]
fn pause_relay_is_a_check_item_that_reflects_and_flips_the_core_state() {
    let running = tray_menu_model(&connected());
    let item = running.action_for(ids::PAUSE).expect("a pause item");
    assert_eq!(item, &Action::PauseRelay { paused: false });
    let paused = tray_menu_model(&CoreState {
        paused: true,
        ..connected()
    });
    assert_eq!(
        paused.action_for(ids::PAUSE),
        Some(&Action::PauseRelay { paused: true })
    );
    let status = paused
        .items
        .iter()
        .find_map(|i| match i {
            Item::Label { text, .. } => Some(text.clone()),
            _ => None,
        })
        .expect("a status line");
    assert!(status.ends_with("paused"), "{status}");
}
