//! Which desktop notifications a core event calls for, as plain data (shown
//! by [`crate::shell`]), so when they fire is checked without a desktop.

/// One notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub title: String,
    pub body: String,
}

/// An agent's call started waiting for the user.
pub fn consent_waiting(agent: &str, tool: &str, irreversible: bool) -> Notice {
    let warning = if irreversible {
        " It cannot be undone."
    } else {
        ""
    };
    Notice {
        title: "A call is waiting for you".to_owned(),
        body: format!(
            "{agent} wants to run {tool}.{warning} Open Coder Bridge to allow or deny it."
        ),
    }
}

/// Only the change to "expired" notifies: the status is pushed again on
/// every relay change, and one reminder is enough.
pub fn session_expired(was_expired: bool, is_expired: bool) -> Option<Notice> {
    (is_expired && !was_expired).then(|| Notice {
        title: "Coder sign-in expired".to_owned(),
        body: "Your Coder session ended and could not be renewed. Sign in again to reconnect your agents."
            .to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consent_names_the_agent_and_tool_and_warns_when_irreversible() {
        let plain = consent_waiting("Cursor", "coder_workspace_bash", false);
        assert_eq!(plain.title, "A call is waiting for you");
        assert_eq!(
            plain.body,
            "Cursor wants to run coder_workspace_bash. Open Coder Bridge to allow or deny it."
        );
        let warned = consent_waiting("zed", "coder_delete_template", true);
        assert!(
            warned
                .body
                .contains("coder_delete_template. It cannot be undone.")
        );
    }

    #[test]
    fn expiry_notifies_once_on_the_change() {
        assert!(session_expired(false, true).is_some());
        assert_eq!(session_expired(true, true), None, "repeated status pushes");
        assert_eq!(session_expired(false, false), None);
        assert_eq!(session_expired(true, false), None, "signing in again");
    }
}
