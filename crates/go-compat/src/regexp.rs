//! Go (RE2) regular expressions, as CRD `pattern`s are written, compiled with the `regex`
//! crate.
//!
//! The two dialects are close; the translation below fixes where they differ:
//! - `\d \w \s \b` (and negations) are ASCII-only in Go, Unicode-aware in Rust;
//! - inside a character class Go treats `[`, `&&`, `--`, `~~` literally where Rust
//!   reads nested classes and set operations, and a `-` right after a range is a
//!   literal (`[a-zA-Z0-9-_]`);
//! - Go reads a `{` that does not start a valid repetition as a literal;
//! - Go supports `\Q...\E` quoting.

use regex::Regex;

const D: &str = r"0-9";
const ND: &str = r"\x00-\x2F\x3A-\x{10FFFF}";
const W: &str = r"0-9A-Za-z_";
const NW: &str = r"\x00-\x2F\x3A-\x40\x5B-\x5E\x60\x7B-\x{10FFFF}";
const S: &str = r"\t\n\x0C\r ";
const NS: &str = r"\x00-\x08\x0B\x0E-\x1F\x21-\x{10FFFF}";

fn perl_class(c: char) -> Option<&'static str> {
    Some(match c {
        'd' => D,
        'D' => ND,
        'w' => W,
        'W' => NW,
        's' => S,
        'S' => NS,
        _ => return None,
    })
}

/// Escapes a literal char for use inside a Rust character class.
fn class_literal(c: char, out: &mut String) {
    match c {
        '\\' | '-' | '[' | ']' | '&' | '~' | '^' => {
            out.push('\\');
            out.push(c);
        }
        c if c.is_control() => out.push_str(&format!("\\x{{{:X}}}", c as u32)),
        c => out.push(c),
    }
}

/// Escapes a literal char for use outside a character class.
fn plain_literal(c: char, out: &mut String) {
    if regex::escape(&c.to_string()) != c.to_string() {
        out.push('\\');
    }
    out.push(c);
}

/// An item read inside a class: a literal char or an expansion to emit as is.
enum ClassItem {
    Char(char),
    Raw(String),
}

struct Translator<'a> {
    chars: Vec<char>,
    pos: usize,
    src: &'a str,
}

impl Translator<'_> {
    fn peek(&self, off: usize) -> Option<char> {
        self.chars.get(self.pos + off).copied()
    }

    fn err(&self, msg: &str) -> String {
        format!("error parsing regexp: {msg}: `{}`", self.src)
    }

    /// Reads an escape (the `\` already consumed) that stands for one char, if it does.
    /// Returns Ok(None) for escapes that are not single chars (e.g. `\pL`).
    fn escaped_char(&mut self, c: char) -> Result<Option<char>, String> {
        Ok(Some(match c {
            'n' => '\n',
            't' => '\t',
            'r' => '\r',
            'f' => '\x0C',
            'v' => '\x0B',
            'a' => '\x07',
            'x' => {
                let v = if self.peek(0) == Some('{') {
                    let end = self.chars[self.pos..]
                        .iter()
                        .position(|&c| c == '}')
                        .ok_or_else(|| self.err("invalid escape sequence"))?;
                    let hex: String = self.chars[self.pos + 1..self.pos + end].iter().collect();
                    self.pos += end + 1;
                    u32::from_str_radix(&hex, 16)
                        .map_err(|_| self.err("invalid escape sequence"))?
                } else {
                    let hex: String = self.chars[self.pos..(self.pos + 2).min(self.chars.len())]
                        .iter()
                        .collect();
                    self.pos += 2;
                    u32::from_str_radix(&hex, 16)
                        .map_err(|_| self.err("invalid escape sequence"))?
                };
                char::from_u32(v).ok_or_else(|| self.err("invalid escape sequence"))?
            }
            '0'..='7' => {
                let mut v = c.to_digit(8).unwrap_or(0);
                for _ in 0..2 {
                    match self.peek(0).and_then(|d| d.to_digit(8)) {
                        Some(d) => {
                            v = v * 8 + d;
                            self.pos += 1;
                        }
                        None => break,
                    }
                }
                char::from_u32(v).ok_or_else(|| self.err("invalid escape sequence"))?
            }
            c if c.is_ascii_punctuation() => c,
            _ => return Ok(None),
        }))
    }

    /// `\p{..}` / `\pX` after the `p` or `P`.
    fn unicode_class(&mut self, c: char) -> Result<String, String> {
        let mut s = format!("\\{c}");
        match self.peek(0) {
            Some('{') => {
                let end = self.chars[self.pos..]
                    .iter()
                    .position(|&c| c == '}')
                    .ok_or_else(|| self.err("invalid character class range"))?;
                s.extend(&self.chars[self.pos..=self.pos + end]);
                self.pos += end + 1;
            }
            Some(x) => {
                s.push(x);
                self.pos += 1;
            }
            None => return Err(self.err("invalid character class range")),
        }
        Ok(s)
    }

    fn class_item(&mut self) -> Result<ClassItem, String> {
        let c = self.peek(0).ok_or_else(|| self.err("missing closing ]"))?;
        self.pos += 1;
        if c != '\\' {
            return Ok(ClassItem::Char(c));
        }
        let e = self
            .peek(0)
            .ok_or_else(|| self.err("trailing backslash at end of expression"))?;
        self.pos += 1;
        if let Some(exp) = perl_class(e) {
            return Ok(ClassItem::Raw(exp.to_string()));
        }
        if e == 'p' || e == 'P' {
            return Ok(ClassItem::Raw(self.unicode_class(e)?));
        }
        match self.escaped_char(e)? {
            Some(ch) => Ok(ClassItem::Char(ch)),
            None => Err(self.err(&format!("invalid escape sequence: `\\{e}`"))),
        }
    }

    fn class(&mut self, out: &mut String) -> Result<(), String> {
        // the '[' is consumed
        out.push('[');
        if self.peek(0) == Some('^') {
            out.push('^');
            self.pos += 1;
        }
        let mut first = true;
        loop {
            let c = self.peek(0).ok_or_else(|| self.err("missing closing ]"))?;
            if c == ']' && !first {
                self.pos += 1;
                out.push(']');
                return Ok(());
            }
            first = false;
            if c == '[' && self.peek(1) == Some(':') {
                let rest: String = self.chars[self.pos..].iter().collect();
                if let Some(end) = rest.find(":]") {
                    out.push_str(&rest[..end + 2]);
                    self.pos += rest[..end + 2].chars().count();
                    continue;
                }
            }
            let lo = self.class_item()?;
            let is_range = self.peek(0) == Some('-') && self.peek(1).is_some_and(|c| c != ']');
            match lo {
                ClassItem::Raw(r) => out.push_str(&r),
                ClassItem::Char(lo) if is_range => {
                    self.pos += 1;
                    let hi = match self.class_item()? {
                        ClassItem::Char(h) => h,
                        ClassItem::Raw(_) => {
                            return Err(self.err("invalid character class range"));
                        }
                    };
                    if hi < lo {
                        return Err(
                            self.err(&format!("invalid character class range: `{lo}-{hi}`"))
                        );
                    }
                    class_literal(lo, out);
                    out.push('-');
                    class_literal(hi, out);
                }
                ClassItem::Char(lo) => class_literal(lo, out),
            }
        }
    }

    /// Is the text at pos (just after a `{`) a valid repetition `n}`, `n,}` or `n,m}`?
    fn valid_repeat(&self) -> bool {
        let rest: String = self.chars[self.pos..].iter().take(24).collect();
        let Some(end) = rest.find('}') else {
            return false;
        };
        let inner = &rest[..end];
        let (a, b) = match inner.split_once(',') {
            Some((a, b)) => (a, Some(b)),
            None => (inner, None),
        };
        !a.is_empty()
            && a.chars().all(|c| c.is_ascii_digit())
            && b.is_none_or(|b| b.chars().all(|c| c.is_ascii_digit()))
    }

    fn translate(&mut self) -> Result<String, String> {
        let mut out = String::with_capacity(self.chars.len() + 8);
        while let Some(c) = self.peek(0) {
            self.pos += 1;
            match c {
                '\\' => {
                    let e = self
                        .peek(0)
                        .ok_or_else(|| self.err("trailing backslash at end of expression"))?;
                    self.pos += 1;
                    if let Some(exp) = perl_class(e) {
                        out.push('[');
                        out.push_str(exp);
                        out.push(']');
                    } else if e == 'b' || e == 'B' {
                        out.push_str(&format!("(?-u:\\{e})"));
                    } else if e == 'A' || e == 'z' {
                        out.push('\\');
                        out.push(e);
                    } else if e == 'p' || e == 'P' {
                        let s = self.unicode_class(e)?;
                        out.push_str(&s);
                    } else if e == 'Q' {
                        let rest: String = self.chars[self.pos..].iter().collect();
                        let (lit, consumed) = match rest.find("\\E") {
                            Some(i) => (&rest[..i], i + 2),
                            None => (&rest[..], rest.len()),
                        };
                        for ch in lit.chars() {
                            plain_literal(ch, &mut out);
                        }
                        self.pos += rest[..consumed].chars().count();
                    } else {
                        match self.escaped_char(e)? {
                            Some(ch) => plain_literal(ch, &mut out),
                            None => {
                                return Err(self.err(&format!("invalid escape sequence: `\\{e}`")));
                            }
                        }
                    }
                }
                '[' => self.class(&mut out)?,
                '{' => {
                    if self.valid_repeat() {
                        out.push('{');
                        while let Some(ch) = self.peek(0) {
                            self.pos += 1;
                            out.push(ch);
                            if ch == '}' {
                                break;
                            }
                        }
                    } else {
                        out.push_str("\\{");
                    }
                }
                '}' => out.push_str("\\}"),
                c => out.push(c),
            }
        }
        Ok(out)
    }
}

/// Translates a Go regular expression into the `regex` crate's syntax.
pub fn translate(pattern: &str) -> Result<String, String> {
    Translator {
        chars: pattern.chars().collect(),
        pos: 0,
        src: pattern,
    }
    .translate()
}

/// Compiles a Go regular expression.
pub fn compile(pattern: &str) -> Result<Regex, String> {
    let t = translate(pattern)?;
    regex::RegexBuilder::new(&t)
        .size_limit(32 << 20)
        .build()
        .map_err(|e| {
            let first = e.to_string();
            let line = first
                .lines()
                .rev()
                .find(|l| l.starts_with("error:"))
                .map(|l| l.trim_start_matches("error:").trim().to_string())
                .unwrap_or(first);
            format!("error parsing regexp: {line}: `{pattern}`")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, s: &str) -> bool {
        compile(p).unwrap().is_match(s)
    }

    #[test]
    fn calico_patterns() {
        // escaped twice in the CRD: the fraction needs a literal backslash
        let p = r"^([0-9]+(\\.[0-9]+)?(ms|s|m|h))*$";
        assert!(!m(p, "1.5s"));
        assert!(m(p, "1500ms"));
        assert!(m(p, "10s"));
        assert!(m(p, ""));
        let single = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))*$";
        assert!(m(single, "1.5s"));
        let dash = r"^([a-zA-Z0-9-_]+=(true|false|),)*([a-zA-Z0-9-_]+=(true|false|))?$";
        assert!(m(dash, "a-b_c=true,x=false"));
        assert!(!m(dash, "a b=true"));
        assert!(m(r"^(?i)(Accept|Return)?$", "ACCEPT"));
        assert!(m(r"^[1-9]\d{0,3}/(?:second|minute|hour|day)$", "10/second"));
        assert!(!m(r"^\d$", "\u{0663}"));
        assert!(m(r"^([a-zA-Z0-9%: /_-])*$", "a:b /c_d-%"));
        assert!(m(r"^(\d+):(\d+)$|^(\d+):(\d+):(\d+)$", "1:2:3"));
    }

    #[test]
    fn go_literals() {
        assert!(m(r"a{", "a{"));
        assert!(m(r"^x{2}$", "xx"));
        assert!(m(r"[a&&b]", "&"));
        assert!(m(r"[[]", "["));
        assert!(m(r"\Q.*\E", ".*"));
        assert!(!m(r"^\Q.*\E$", "ab"));
        assert!(m(r"[\d.]+", "1.2"));
        assert!(m(r"^[^\d]$", "a"));
        assert!(m(r"^\W$", "-"));
        assert!(m(r"^[[:alpha:]]+$", "abc"));
    }

    #[test]
    fn errors() {
        assert!(compile("(").is_err());
        assert!(compile("[z-a]").is_err());
        assert!(compile(r"\").is_err());
    }

    #[test]
    fn perl_classes_are_ascii_as_in_go() {
        assert!(m(r"^[1-9]\d{0,3}/x$", "10/x"));
        assert!(m(r"^\d+$", "123") && !m(r"^\d+$", "١٢٣"));
        assert!(m(r"^[\d.]\S$", "1x") && !m(r"^[\d.]\S$", "1 "));
        assert!(!m(r"^\w$", "é") && !m(r"^\s$", "\u{a0}"));
    }

    #[test]
    fn a_bracket_first_in_a_class_is_a_literal() {
        assert!(m(r"^[]a]+$", "]a]") && !m(r"^[]a]+$", "b"));
        assert!(m(r"^[[:alpha:]-]+$", "a-b") && !m(r"^[[:alpha:]-]+$", "1"));
    }
}
