//! One line about the machine the numbers come from: cores, CPU model,
//! memory, OS. Nothing that identifies the host.

/// E.g. `2 cores, AMD EPYC 7B13, 23.5 GiB RAM, Debian GNU/Linux 12 (bookworm), Linux 6.1`.
pub fn describe() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let cpu = read("/proc/cpuinfo")
        .and_then(|s| field(&s, "model name"))
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let mem = read("/proc/meminfo")
        .and_then(|s| field(&s, "MemTotal"))
        .and_then(|v| v.trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or_else(
            || "unknown RAM".to_owned(),
            |kib| format!("{:.1} GiB RAM", kib / (1024.0 * 1024.0)),
        );
    let os = read("/etc/os-release")
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("PRETTY_NAME="))
                .map(|v| v.trim_matches('"').to_owned())
        })
        .unwrap_or_else(|| std::env::consts::OS.to_owned());
    // Only major.minor: the rest names a vendor build, not the machine.
    let kernel = read("/proc/sys/kernel/osrelease")
        .map(|k| {
            let v: Vec<&str> = k.trim().split(['.', '-']).take(2).collect();
            format!(", Linux {}", v.join("."))
        })
        .unwrap_or_default();
    format!("{cores} cores, {cpu}, {mem}, {os}{kernel}")
}

fn read(path: &str) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

/// The value of the first `name : value` line.
fn field(text: &str, name: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k.trim() == name).then(|| v.trim().to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_found_by_name() {
        let cpuinfo = "processor\t: 0\nmodel name\t: Some CPU @ 2.0GHz\nflags\t: fpu\n";
        assert_eq!(
            field(cpuinfo, "model name").as_deref(),
            Some("Some CPU @ 2.0GHz")
        );
        assert_eq!(field(cpuinfo, "bogus"), None);
        assert!(describe().contains("cores"));
    }
}
