//! Text a guest chose, made inert for a terminal or a document: kiln prints plugin names,
//! messages and cell values, and none of them may drive the terminal or forge kiln's lines.

/// Guest text longer than this is cut in tables and plain output (the JSON keeps it whole):
/// a table cell is read, not scrolled, and comfy-table's wrapping is quadratic in a word's
/// length (`split_long_word` copies the rest of the word for every line it cuts off, so a
/// 512 KiB row error took minutes to lay out). Cut first, the table's work is bounded.
pub const SHOWN_CHARS: usize = 200;

/// Shown for a newline in text that must stay on one line.
const NEWLINE_MARKER: &str = "⏎";

/// Guest-chosen text made inert for a terminal, on one line: escape sequences (CSI, OSC,
/// DCS…, in 7- and 8-bit form) are dropped whole, other C0/C1 controls, DEL and the
/// bidirectional overrides are dropped, a tab becomes a space and a newline a visible `⏎`,
/// so a plugin can neither drive the terminal (clear it, retitle it, write the clipboard
/// with OSC 52) nor forge lines of kiln's own output (`\r`, newlines). Cut to
/// [`SHOWN_CHARS`], saying how long it was.
pub fn sanitize(text: &str) -> String {
    clean(text, false, Some(SHOWN_CHARS))
}

/// [`sanitize`] that keeps newlines and length, for text kiln lays out over several lines
/// itself (a whole rendered table, a report file).
pub fn sanitize_multiline(text: &str) -> String {
    clean(text, true, None)
}

fn clean(text: &str, keep_newlines: bool, max_chars: Option<usize>) -> String {
    let mut out = String::with_capacity(text.len().min(max_chars.map_or(usize::MAX, |m| m * 4)));
    let mut shown = 0usize;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if max_chars.is_some_and(|m| shown >= m) {
            out.push_str(&format!("… ({} bytes, see --json)", text.len()));
            return out;
        }
        match c {
            '\x1b' => match chars.next() {
                Some('[') => skip_csi(&mut chars),
                Some(']' | 'P' | 'X' | '^' | '_') => skip_string(&mut chars),
                // Two-byte escapes (ESC c, ESC 7…): the ESC and its letter go.
                _ => {}
            },
            '\u{9b}' => skip_csi(&mut chars),
            '\u{90}' | '\u{98}' | '\u{9d}' | '\u{9e}' | '\u{9f}' => skip_string(&mut chars),
            '\n' if keep_newlines => out.push('\n'),
            '\n' => out.push_str(NEWLINE_MARKER),
            '\t' => out.push(' '),
            c if c.is_control() => continue,
            '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' => continue,
            c => out.push(c),
        }
        shown += 1;
    }
    out
}

/// Skips a control sequence's parameters up to and including its final byte.
fn skip_csi(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    for c in chars.by_ref() {
        if ('\x40'..='\x7e').contains(&c) {
            return;
        }
    }
}

/// Skips a string sequence (OSC, DCS…) up to its terminator: BEL, ST or ESC `\`.
fn skip_string(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    while let Some(c) = chars.next() {
        match c {
            '\x07' | '\u{9c}' => return,
            '\x1b' => {
                if chars.peek() == Some(&'\\') {
                    chars.next();
                }
                return;
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_sequences_and_controls_are_dropped() {
        let hostile = "\x1b[2J\x1b]0;pwned\x07\x1b]52;c;ZXZpbA==\x1b\\\r all rows OK\nnext\u{9b}31mred\u{9d}8;;x\u{9c}\x7f\x08\u{202e}\tend\x1bc";
        assert_eq!(sanitize(hostile), " all rows OK⏎nextred end");
        assert_eq!(sanitize_multiline("a\r\nb\x1b[0m"), "a\nb");
        // An unterminated sequence swallows only itself.
        assert_eq!(sanitize("ok\x1b]0;title"), "ok");
        assert_eq!(sanitize("plain text, ünïcode ✓"), "plain text, ünïcode ✓");
    }

    #[test]
    fn long_text_is_cut_with_its_length() {
        let long = "é".repeat(10_000);
        let shown = sanitize(&long);
        assert!(shown.starts_with(&"é".repeat(SHOWN_CHARS)));
        assert!(shown.ends_with("… (20000 bytes, see --json)"), "{shown}");
        assert_eq!(sanitize(&"x".repeat(SHOWN_CHARS)), "x".repeat(SHOWN_CHARS));
    }
}
