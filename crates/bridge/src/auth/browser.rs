//! Opening the sign-in page: `$BROWSER` when set, else the platform opener.

use std::process::Stdio;

use url::Url;

use super::AuthError;

/// Whether `url` may be handed to a browser: only web pages. A `file:`,
/// `javascript:` or custom-scheme URL could run something or open a local
/// file; whoever supplied it (a discovery answer, a server) must not get to
/// choose that. The tray's opener uses the same check.
pub fn is_web_url(url: &Url) -> bool {
    matches!(url.scheme(), "http" | "https") && url.host().is_some()
}

/// Starts the user's browser on `url` and returns without waiting for it.
/// Refuses anything but an `http(s)` URL (see [`is_web_url`]).
///
/// `$BROWSER` follows the usual convention: a `:`-separated list of commands
/// (the first is used), each possibly with arguments and a `%s` placeholder;
/// without one the URL is appended as the last argument.
pub fn open_browser(url: &Url) -> Result<(), AuthError> {
    if !is_web_url(url) {
        tracing::warn!(scheme = url.scheme(), "not opening a non-web link");
        return Err(AuthError::other(format!(
            "not opening a {:?} link in the browser: only http(s) pages are opened",
            url.scheme()
        )));
    }
    let (program, args) = match std::env::var(crate::env::BROWSER) {
        Ok(value) if !value.trim().is_empty() => browser_command(&value, url.as_str())?,
        _ => platform_opener(url.as_str()),
    };
    let mut child = tokio::process::Command::new(&program)
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| AuthError::other_from(format!("cannot start the browser ({program})"), e))?;
    // Reap the opener when it exits, so no zombie is left behind; its exit
    // status means little (openers return early), so it is only logged.
    tokio::spawn(async move {
        match child.wait().await {
            Ok(status) => tracing::debug!(%status, "browser opener exited"),
            Err(e) => tracing::debug!(error = %e, "browser opener could not be waited for"),
        }
    });
    Ok(())
}

/// Why no browser can be opened here, if so: on Linux and the BSDs, no
/// graphical session (`DISPLAY` and `WAYLAND_DISPLAY` unset) and no
/// `$BROWSER`. Then `xdg-open` would start a text browser on nobody's
/// terminal or fail, so the bridge only tells the user how to sign in.
pub fn browser_unavailable() -> Option<String> {
    let set = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty());
    graphical_session_missing(
        set(crate::env::BROWSER),
        set(crate::env::DISPLAY) || set(crate::env::WAYLAND_DISPLAY),
    )
}

fn graphical_session_missing(browser_set: bool, display_set: bool) -> Option<String> {
    let needs_display = cfg!(unix) && !cfg!(target_os = "macos");
    (needs_display && !browser_set && !display_set).then(|| {
        format!(
            "there is no graphical session ({} and {} are unset) and {} is not set",
            crate::env::DISPLAY,
            crate::env::WAYLAND_DISPLAY,
            crate::env::BROWSER
        )
    })
}

fn browser_command(value: &str, url: &str) -> Result<(String, Vec<String>), AuthError> {
    // A path to an executable (possibly with spaces) is run as is.
    if std::path::Path::new(value).is_file() {
        return Ok((value.to_string(), vec![url.to_string()]));
    }
    let first = if cfg!(windows) {
        value
    } else {
        value
            .split(':')
            .find(|s| !s.trim().is_empty())
            .unwrap_or(value)
    };
    let mut words = first.split_whitespace().map(str::to_owned);
    let program = words
        .next()
        .ok_or_else(|| AuthError::other(format!("{} is empty", crate::env::BROWSER)))?;
    let mut args: Vec<String> = words.collect();
    if args.iter().any(|a| a.contains("%s")) {
        for arg in &mut args {
            *arg = arg.replace("%s", url);
        }
    } else {
        args.push(url.to_string());
    }
    Ok((program, args))
}

fn platform_opener(url: &str) -> (String, Vec<String>) {
    if cfg!(target_os = "macos") {
        ("open".into(), vec![url.into()])
    } else if cfg!(windows) {
        // Not `cmd /C start`: cmd would split the URL at its `&`s.
        (
            "rundll32".into(),
            vec!["url.dll,FileProtocolHandler".into(), url.into()],
        )
    } else {
        ("xdg-open".into(), vec![url.into()])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_display_and_no_browser_means_no_browser() {
        let linux_like = cfg!(unix) && !cfg!(target_os = "macos");
        assert_eq!(
            graphical_session_missing(false, false).is_some(),
            linux_like
        );
        assert!(
            graphical_session_missing(true, false).is_none(),
            "$BROWSER wins"
        );
        assert!(graphical_session_missing(false, true).is_none());
    }

    #[test]
    fn only_web_pages_are_opened() {
        for refused in [
            "javascript:alert(1)",
            "file:///etc/passwd",
            "data:text/html,hi",
            "vscode://x/y",
        ] {
            let url = Url::parse(refused).unwrap();
            assert!(!is_web_url(&url), "{refused}");
            let err = open_browser(&url).expect_err(refused);
            assert!(err.to_string().contains("not opening"), "{err}");
        }
        assert!(is_web_url(&Url::parse("https://c.example.com/x").unwrap()));
        assert!(is_web_url(&Url::parse("http://127.0.0.1:3000/").unwrap()));
    }

    #[test]
    fn browser_variable_forms() {
        let (p, a) = browser_command("firefox", "http://x/").unwrap();
        assert_eq!((p.as_str(), a), ("firefox", vec!["http://x/".to_string()]));
        let (p, a) = browser_command("sh -c 'x' %s", "http://x/").unwrap();
        assert_eq!(p, "sh");
        assert_eq!(a.last().map(String::as_str), Some("http://x/"));
        let (p, _) = browser_command(":w3m:lynx", "http://x/").unwrap();
        assert_eq!(p, "w3m");
    }
}
