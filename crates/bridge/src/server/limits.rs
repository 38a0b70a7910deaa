//! Bounds on what an agent can make the bridge hold, show or store: tool
//! names, the client name it announces, and the size of a call's arguments.
//!
//! A request past a bound is refused before anything about it is recorded,
//! and the refusal does not echo the oversized value back.

/// Longest tool name accepted, in bytes (the MCP spec's limit for tool names).
pub const MAX_TOOL_NAME_BYTES: usize = 128;
/// Longest `clientInfo.name` kept, in bytes; longer names are cut.
pub const MAX_CLIENT_NAME_BYTES: usize = 256;
/// Largest arguments of one call, in bytes of compact JSON (1 MiB).
pub const MAX_ARGUMENTS_BYTES: usize = 1024 * 1024;

/// `Err` with a message that does not repeat the name, unless the name is
/// 1–[`MAX_TOOL_NAME_BYTES`] bytes of `A-Z a-z 0-9 _ - . /`.
pub fn check_tool_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("the tool name is empty".to_owned());
    }
    if name.len() > MAX_TOOL_NAME_BYTES {
        return Err(format!(
            "a tool name of {} bytes is not a tool of this deployment (at most {MAX_TOOL_NAME_BYTES})",
            name.len()
        ));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/')))
    {
        return Err(format!(
            "tool names use only letters, digits, '_', '-', '.' and '/'; this one has {}",
            crate::consent::highlight::spell(bad)
        ));
    }
    Ok(())
}

/// The client's announced name, cut to [`MAX_CLIENT_NAME_BYTES`] (with `…`)
/// and with control characters replaced, so an agent cannot store or show
/// more than that under its name.
pub fn bounded_client_name(name: &str) -> String {
    let clean = |c: char| {
        if crate::consent::highlight::is_invisible(c) || c == '\n' || c == '\t' {
            '\u{FFFD}'
        } else {
            c
        }
    };
    if name.len() <= MAX_CLIENT_NAME_BYTES {
        return name.chars().map(clean).collect();
    }
    let mut out = String::new();
    for c in name.chars().map(clean) {
        if out.len() + c.len_utf8() > MAX_CLIENT_NAME_BYTES - '…'.len_utf8() {
            break;
        }
        out.push(c);
    }
    out.push('…');
    out
}

/// `Err` with the refusal when `len` bytes of arguments are too many.
pub fn check_arguments_size(len: usize) -> Result<(), String> {
    if len > MAX_ARGUMENTS_BYTES {
        return Err(format!(
            "the arguments take {len} bytes; Coder Bridge relays at most {MAX_ARGUMENTS_BYTES} \
             bytes of arguments per call"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_names_are_bounded_and_plain() {
        assert!(check_tool_name("coder_workspace_bash").is_ok());
        assert!(check_tool_name("ns/tool-1.2").is_ok());
        assert!(check_tool_name(&"a".repeat(MAX_TOOL_NAME_BYTES)).is_ok());
        let long = "a".repeat(200 * 1024);
        let err = check_tool_name(&long).unwrap_err();
        assert!(err.len() < 200, "the refusal must not echo the name: {err}");
        assert!(check_tool_name("").is_err());
        assert!(
            check_tool_name("bash\u{202E}")
                .unwrap_err()
                .contains("\\u{202E}")
        );
        assert!(check_tool_name("rm -rf").is_err());
    }

    #[test]
    fn client_names_are_cut_and_cleaned() {
        let long = "Claude Desktop".repeat(300 * 1024 / 14);
        let cut = bounded_client_name(&long);
        assert!(cut.len() <= MAX_CLIENT_NAME_BYTES, "{}", cut.len());
        assert!(cut.ends_with('…'));
        assert_eq!(bounded_client_name("cursor"), "cursor");
        assert_eq!(bounded_client_name("a\u{1b}[2Jb"), "a\u{FFFD}[2Jb");
        let wide = "é".repeat(200);
        assert!(bounded_client_name(&wide).len() <= MAX_CLIENT_NAME_BYTES);
    }

    #[test]
    fn arguments_are_bounded() {
        assert!(check_arguments_size(MAX_ARGUMENTS_BYTES).is_ok());
        assert!(check_arguments_size(MAX_ARGUMENTS_BYTES + 1).is_err());
    }
}
