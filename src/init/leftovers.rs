//! Finding the processes left behind when ward is not PID 1: its descendants, read from /proc.
//! (As PID 1, "everyone else in the namespace" is simply kill(-1).)

/// Parses the parent pid out of a /proc/PID/stat line. The command name (field 2) may contain
/// spaces and parentheses, so fields are counted from the last ')'.
fn ppid_from_stat(stat: &str) -> Option<i32> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_ascii_whitespace();
    let _state = fields.next()?;
    fields.next()?.parse().ok()
}

/// Every live descendant of `root`, or None when /proc cannot be read.
pub fn descendants(root: i32) -> Option<Vec<i32>> {
    // (parent, pid) for every process; a linear scan per level is plenty for a container.
    let mut links: Vec<(i32, i32)> = Vec::new();
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        if let Some(ppid) = ppid_from_stat(&stat) {
            links.push((ppid, pid));
        }
    }
    let mut found: Vec<i32> = Vec::new();
    let mut queue = vec![root];
    while let Some(p) = queue.pop() {
        for &(parent, pid) in &links {
            if parent == p && pid != root && !found.contains(&pid) {
                found.push(pid);
                queue.push(pid);
            }
        }
    }
    Some(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_parsing() {
        assert_eq!(ppid_from_stat("42 (sh) S 7 42 42 0"), Some(7));
        assert_eq!(ppid_from_stat("42 (a) b) (c) R 9 1 1"), Some(9));
        assert_eq!(ppid_from_stat("garbage"), None);
    }

    #[test]
    fn finds_own_child() -> std::io::Result<()> {
        let mut child = std::process::Command::new("sleep").arg("5").spawn()?;
        let found = descendants(std::process::id() as i32);
        child.kill()?;
        child.wait()?;
        assert!(found.is_some_and(|pids| pids.contains(&(child.id() as i32))));
        Ok(())
    }
}
