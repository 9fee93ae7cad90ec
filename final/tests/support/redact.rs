//! Insta filters for the docker CLI's output: they hide what changes from run to run (ids,
//! digests, times, sizes, ports, paths of temporary directories) and nothing else, so a
//! snapshot still fails when a column, a word or a line changes.

/// `(regex, replacement)` pairs for `insta::with_settings!({ filters => ... })`, applied in
/// order: long forms before the short forms they contain.
pub fn filters() -> Vec<(&'static str, &'static str)> {
    vec![
        // Temporary directories of the test (sockets, data roots).
        (r"/tmp/berth-test-[A-Za-z0-9._-]+", "[TMP]"),
        // Registry ports on loopback.
        (r"127\.0\.0\.1:[0-9]{2,5}", "127.0.0.1:[PORT]"),
        // Digests and full ids.
        (r"sha256:[0-9a-f]{64}", "sha256:[DIGEST]"),
        (r"\b[0-9a-f]{64}\b", "[ID]"),
        // Short ids (12 hex), as `ps`, `images` and pull progress print them.
        (r"\b[0-9a-f]{12}\b", "[SHORTID]"),
        // RFC 3339 times (`logs -t`, inspect).
        (
            r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})",
            "[TIME]",
        ),
        // Human durations: "Up 2 seconds", "Exited (0) 3 seconds ago", "About a minute ago".
        (
            r"(Less than a second|About a minute|About an hour|\d+ (seconds?|minutes?|hours?|days?|weeks?|months?|years?))( ago)?",
            "[DURATION]",
        ),
        // A pushed manifest's byte count ("1: digest: sha256:… size: 527") depends on its
        // media type and JSON layout, which registries and engines choose freely.
        (r"size: \d+", "size: [N]"),
        // Sizes: "4.26MB", "1.2kB", "0B".
        (r"\b\d+(\.\d+)?\s?(B|kB|MB|GB|TB)\b", "[SIZE]"),
    ]
}

/// Pads of spaces between columns depend on the width of redacted values: collapse runs of
/// two or more spaces so tables compare by their cells.
pub fn columns(text: &str) -> String {
    text.lines()
        .map(|line| {
            let mut out = String::new();
            let mut spaces = 0;
            for c in line.trim_end().chars() {
                if c == ' ' {
                    spaces += 1;
                    continue;
                }
                match spaces {
                    0 => {}
                    1 => out.push(' '),
                    _ => out.push_str("  "),
                }
                spaces = 0;
                out.push(c);
            }
            out
        })
        .collect::<Vec<_>>()
        .join("\n")
}
