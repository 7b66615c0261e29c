//! Byte-exact re-implementation of `sigs.k8s.io/yaml.Marshal` output (the
//! go-yaml v2 emitter) and a reader for YAML as go-yaml v2 reads it.
//!
//! # Writing: [`to_yaml`]
//!
//! `sigs.k8s.io/yaml.Marshal(obj)` is `json.Marshal(obj)`, then go-yaml v2
//! `yaml.Unmarshal` of that JSON into `interface{}`, then go-yaml v2
//! `yaml.Marshal`. [`to_yaml`] reproduces the whole chain for an object whose
//! JSON is the given value:
//!
//! - numbers: the Go JSON text of the number (see [`crate::json`]) is
//!   resolved as go-yaml resolves a plain scalar (`int`, then `uint64`, then
//!   `float64`), so `2.0` becomes `2` and `1e20` becomes `1e+20`; floats are
//!   written with `strconv.FormatFloat(f, 'g', -1, 64)`;
//! - strings: a raw NEL (U+0085), which `json.Marshal` does not escape, is a
//!   line break to go-yaml's JSON reading and is folded like one (one NEL
//!   and the spaces around it become a space, each further NEL a line feed);
//! - mapping keys are sorted with go-yaml's `keyList.Less` (non-letters
//!   before letters, letters by code point, digit runs compared as numbers,
//!   shorter runs first on equal value);
//! - block style, 2-space indentation, sequences not indented under their
//!   key (`key:\n- a`), `- key: v` for mappings in sequences, `{}` and `[]`
//!   for empty collections, `null`, `true`, `false`;
//! - strings are plain unless the plain form would resolve to another type
//!   (numbers in any go-yaml syntax such as `1e3`, `0x1f`, `1_000`, `.5`;
//!   YAML 1.1 booleans `y`/`yes`/`on`/`off`/`n`/`no` in go-yaml's spellings;
//!   `null`/`~`/empty; `.inf`/`.nan`; timestamps `time.Parse` accepts;
//!   base-60 floats like `1:20`), which are double-quoted, or the emitter's
//!   scalar analysis forbids plain (leading or trailing space, leading
//!   indicator, `: `, ` #`, `---`, ...), which gives single quotes, or the
//!   text has characters go-yaml does not print (tab, CR, C0/C1 controls,
//!   U+FEFF, anything beyond U+FFFF), which gives double quotes with
//!   escapes (`\t`, `\x01`, `\U0001F600`; a leading BOM escapes everything);
//! - strings with a line feed use literal block style (`|`, `|-` or `|+` by
//!   their trailing line breaks, with the indentation indicator `2` when
//!   they start with a space or a line break) unless the analysis forbids it
//!   (trailing space, a space before a line break, unprintable characters),
//!   which gives double quotes;
//! - line folding: plain, single- and double-quoted scalars that are not
//!   simple keys are broken at a single space once the line has passed
//!   column 80, the continuation indented one level deeper than the
//!   scalar's parent; a double-quoted continuation that starts with a space
//!   escapes it (`\ `);
//! - keys longer than 128 bytes or holding a line break are written as
//!   complex keys (`? key` / `: value`).
//!
//! Where Go differs, and why [`to_yaml`] cannot follow: Go fails (so
//! calicoctl fails) for strings with U+007F, U+0080..U+009F other than NEL,
//! U+FFFE or U+FFFF (go-yaml's reader refuses the raw characters
//! `json.Marshal` leaves in), for map keys whose JSON text is longer than
//! 1024 characters or holds a NEL (go-yaml drops such a simple key), and for
//! a NEL followed by `---` or `...`; [`to_yaml`] writes these anyway. For a
//! few odd key sets go-yaml's `Less` is not transitive (`"1xa" < "6x" <
//! "13x" < "1xa"`); Go then sorts in its random map iteration order and its
//! own output varies between runs. Outside ASCII, "letter" and "digit" come
//! from Rust's Unicode tables (`is_alphabetic`, `is_numeric`), which differ
//! from Go's `unicode.IsLetter`/`IsDigit` for combining marks, letter-like
//! numerals, circled letters and superscript digits, so keys holding those
//! may sort differently. None of this occurs in Kubernetes or Calico
//! objects, whose keys are ASCII.
//!
//! # Reading: [`from_yaml`] and [`from_yaml_documents`]
//!
//! These read YAML the way go-yaml v2 reads it into `interface{}` (as
//! `sigs.k8s.io/yaml.YAMLToJSON` does), with YAML 1.1 resolution of plain
//! scalars: `123`, `-5`, `0x1F`, `0o17`, `017`, `0b101`, `1_000` are
//! integers (`i64`, or `u64` above `i64::MAX`), `1.5`, `1e+06`, `.5` and
//! decimal integers too large for `u64` are floats, `true`/`false` and also
//! `yes`/`no`/`on`/`off`/`y`/`n` (in the spellings go-yaml accepts, such as
//! `Yes`, `ON`) are booleans (so a hand-written `enabled: yes` reads as
//! `true`, as it does in Go), `null`/`Null`/`NULL`/`~`/empty are null;
//! timestamps, base-60 numbers and everything else stay strings, and so does
//! every quoted or block scalar. Non-string keys become strings as
//! `sigs.k8s.io/yaml` converts them (`1` -> `"1"`, `true` -> `"true"`,
//! floats via 32-bit `'g'`); null, `u64` and collection keys are errors.
//! Object keys keep the document's order; a repeated key keeps its first
//! position and its last value.
//!
//! The syntax is read by granit-parser, a maintained YAML 1.2 event parser
//! (the one serde-saphyr uses); this module turns its events into values
//! with go-yaml v2's YAML 1.1 resolution and tags. Supported: block and
//! flow collections, compact nested collections (`- - a`, `- k: v`,
//! `? k` / `: v`), indentless sequences, plain scalars spanning lines,
//! single- and double-quoted scalars spanning lines, literal and folded
//! block scalars with chomping and indentation indicators, comments,
//! directives, `---` / `...`, a BOM, CR LF line ends, anchors and aliases,
//! and the tags `!!str`, `!!int`, `!!float`, `!!bool`, `!!null`,
//! `!!binary`, `!!timestamp`, `!!map`, `!!seq` (other tags keep the text).
//!
//! Deliberate differences from go-yaml: merge keys (`<<`) are ordinary keys
//! (go-yaml itself writes a string key `<<` plain, so merging on read would
//! break round trips); `.inf` and `.nan` are errors (JSON cannot hold them;
//! `YAMLToJSON` fails on them too); [`from_yaml`] refuses a stream with more
//! than one non-empty document (go-yaml silently reads the first); hex,
//! octal and binary integers beyond 64 bits (`*big.Int` in Go) become
//! rounded floats; collections may nest at most 200 deep and alias
//! expansion may copy at most a million nodes (per document).
//!
//! Where YAML 1.2 syntax (granit-parser's) differs from go-yaml's YAML 1.1
//! syntax, the 1.2 rules apply: only LF, CR and CR LF are line breaks, so
//! NEL, LS and PS are ordinary characters (go-yaml breaks lines at them);
//! tabs are accepted as separators after `:` and `-` (go-yaml refuses some
//! of them); double-quoted scalars take YAML 1.2's escapes, so `\/` is a
//! slash and `\'` is an error (go-yaml v2 the other way round). As in
//! go-yaml, anchors do not reach across documents and an alias inside the
//! node of its own anchor is an error. Characters go-yaml's reader refuses
//! (C0 and C1 controls other than tab, LF, CR, NEL; U+007F; U+FFFE,
//! U+FFFF) are still refused. Errors carry go-yaml-like messages (granit-parser's own words
//! for most syntax errors) and the parser's line and column, not go-yaml's
//! exact ones; an unclosed bracket or quote is reported where it opens.
//!
//! `from_yaml(&to_yaml(v)) == v` for every value `v` whose floats Go would
//! not write as integers and whose strings hold no NEL, LS or PS (Go turns
//! the integral float `2.0` into `2` and folds NEL, see above; go-yaml's
//! emitter writes LS and PS raw as line breaks and indents the text after
//! them, which YAML 1.2 reads as part of the string, or in a block scalar
//! as a line indented too little).

use granit_parser::{ErrorKind, Event, Marker, ScalarStyle, ScanError, Span, Tag};
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;

use crate::json as gojson;

// ---------------------------------------------------------------------------
// Character classes (go-yaml's yamlprivateh.go, on chars instead of bytes)
// ---------------------------------------------------------------------------

fn is_break(c: char) -> bool {
    matches!(c, '\r' | '\n' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

fn is_blank(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// Blank, line break or NUL (NUL also stands for "end of input").
fn is_blankz(c: char) -> bool {
    is_blank(c) || is_break(c) || c == '\0'
}

/// go-yaml's `is_printable`: what may appear unescaped in its output.
fn is_printable(c: char) -> bool {
    let v = c as u32;
    v == 0x0A
        || (0x20..=0x7E).contains(&v)
        || (0xA0..=0xD7FF).contains(&v)
        || (0xE000..=0xFFFD).contains(&v) && v != 0xFEFF
}

// ---------------------------------------------------------------------------
// Resolution of plain scalars (go-yaml v2 resolve.go)
// ---------------------------------------------------------------------------

/// What go-yaml v2 makes of a plain scalar.
#[derive(Debug, Clone, PartialEq)]
enum Resolved {
    Null,
    Bool(bool),
    Int(i64),
    Uint(u64),
    Float(f64),
    /// An integer beyond 64 bits (`*big.Int` in Go), with its value rounded.
    BigInt(f64),
    /// A timestamp; decoded into `interface{}` it stays the original string.
    Timestamp,
    Str,
}

fn resolve_map(s: &str) -> Option<Resolved> {
    Some(match s {
        "y" | "Y" | "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => {
            Resolved::Bool(true)
        }
        "n" | "N" | "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" => {
            Resolved::Bool(false)
        }
        "" | "~" | "null" | "Null" | "NULL" => Resolved::Null,
        ".nan" | ".NaN" | ".NAN" => Resolved::Float(f64::NAN),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => Resolved::Float(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => Resolved::Float(f64::NEG_INFINITY),
        _ => return None,
    })
}

/// go-yaml v2 `resolve("", s)`: what an untagged plain scalar is.
fn resolve_plain(s: &str) -> Resolved {
    resolve_scalar(s, true)
}

/// go-yaml v2 `resolve`; `timestamps`: whether the text may be a timestamp.
fn resolve_scalar(s: &str, timestamps: bool) -> Resolved {
    let hint = match s.as_bytes().first() {
        None => 'N',
        Some(b'+' | b'-') => 'S',
        Some(b'0'..=b'9') => 'D',
        Some(b'y' | b'Y' | b'n' | b'N' | b't' | b'T' | b'f' | b'F' | b'o' | b'O' | b'~') => 'M',
        Some(b'.') => '.',
        Some(_) => return Resolved::Str,
    };
    if let Some(r) = resolve_map(s) {
        return r;
    }
    match hint {
        '.' => {
            if let Some(f) = go_parse_float(s) {
                return Resolved::Float(f);
            }
        }
        'D' | 'S' => {
            if timestamps && is_go_timestamp(s) {
                return Resolved::Timestamp;
            }
            let plain: String = s.chars().filter(|&c| c != '_').collect();
            if let Ok(i) = go_parse_int(&plain) {
                return Resolved::Int(i);
            }
            let uint_err = match go_parse_uint(&plain) {
                Ok(u) => return Resolved::Uint(u),
                Err(e) => e,
            };
            if is_yaml_style_float(&plain)
                && let Some(f) = go_parse_float(&plain)
            {
                return Resolved::Float(f);
            }
            // go-yaml then retries "0b..."/"-0b..." in base 2, which base-0
            // parsing above has already covered.
            if uint_err == IntErr::Range
                && let Some(f) = go_big_int(&plain)
            {
                return Resolved::BigInt(f);
            }
        }
        _ => {}
    }
    Resolved::Str
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum IntErr {
    Syntax,
    Range,
}

/// Go's `strconv.ParseUint(s, 0, 64)` (without underscores, which the
/// caller has removed).
fn go_parse_uint(s: &str) -> Result<u64, IntErr> {
    if s.is_empty() {
        return Err(IntErr::Syntax);
    }
    let b = s.as_bytes();
    let (base, digits): (u64, &[u8]) = if b[0] == b'0' {
        if b.len() >= 3 && b[1].eq_ignore_ascii_case(&b'b') {
            (2, &b[2..])
        } else if b.len() >= 3 && b[1].eq_ignore_ascii_case(&b'o') {
            (8, &b[2..])
        } else if b.len() >= 3 && b[1].eq_ignore_ascii_case(&b'x') {
            (16, &b[2..])
        } else {
            (8, &b[1..])
        }
    } else {
        (10, b)
    };
    let cutoff = u64::MAX / base + 1;
    let mut n: u64 = 0;
    for &c in digits {
        let d = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'z' => c - b'a' + 10,
            b'A'..=b'Z' => c - b'A' + 10,
            _ => return Err(IntErr::Syntax),
        } as u64;
        if d >= base {
            return Err(IntErr::Syntax);
        }
        if n >= cutoff {
            return Err(IntErr::Range);
        }
        n *= base;
        n = n.checked_add(d).ok_or(IntErr::Range)?;
    }
    Ok(n)
}

/// Go's `strconv.ParseInt(s, 0, 64)`.
fn go_parse_int(s: &str) -> Result<i64, IntErr> {
    if s.is_empty() {
        return Err(IntErr::Syntax);
    }
    let (neg, rest) = match s.as_bytes()[0] {
        b'+' => (false, &s[1..]),
        b'-' => (true, &s[1..]),
        _ => (false, s),
    };
    let un = go_parse_uint(rest)?;
    let cutoff = 1u64 << 63;
    if !neg && un >= cutoff {
        return Err(IntErr::Range);
    }
    if neg && un > cutoff {
        return Err(IntErr::Range);
    }
    Ok(if neg {
        (un as i64).wrapping_neg()
    } else {
        un as i64
    })
}

/// `math/big` `Int.SetString(s, 0)` for an unsigned literal, as a rounded
/// float (JSON numbers here are at most 64-bit).
fn go_big_int(s: &str) -> Option<f64> {
    let b = s.as_bytes();
    let (base, digits): (u32, &[u8]) = if b.len() >= 2 && b[0] == b'0' {
        match b[1].to_ascii_lowercase() {
            b'x' => (16, &b[2..]),
            b'b' => (2, &b[2..]),
            b'o' => (8, &b[2..]),
            _ => (8, &b[1..]),
        }
    } else {
        (10, b)
    };
    if digits.is_empty() {
        return None;
    }
    let mut f = 0f64;
    for &c in digits {
        let d = (c as char).to_digit(base)?;
        f = f * base as f64 + d as f64;
    }
    Some(f)
}

/// The regular expression go-yaml uses before calling `ParseFloat`:
/// `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`.
fn is_yaml_style_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - start
    };
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        i += 1;
    }
    if i < b.len() && b[i] == b'.' {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    } else {
        if digits(&mut i) == 0 {
            return false;
        }
        if i < b.len() && b[i] == b'.' {
            i += 1;
            digits(&mut i);
        }
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

/// Go's `strconv.ParseFloat(s, 64)` for decimal syntax (the only syntax that
/// reaches it from go-yaml's resolver): `None` for a syntax or range error.
fn go_parse_float(s: &str) -> Option<f64> {
    let b = s.as_bytes();
    let mut i = 0;
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        i += 1;
    }
    let mut saw_dot = false;
    let mut saw_digits = false;
    let mut underscores = false;
    while i < b.len() {
        match b[i] {
            b'_' => underscores = true,
            b'.' if !saw_dot => saw_dot = true,
            b'0'..=b'9' => saw_digits = true,
            _ => break,
        }
        i += 1;
    }
    if !saw_digits {
        return None;
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        if i >= b.len() || !b[i].is_ascii_digit() {
            return None;
        }
        while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'_') {
            if b[i] == b'_' {
                underscores = true;
            }
            i += 1;
        }
    }
    if i != b.len() {
        return None;
    }
    if underscores && !underscore_ok(s) {
        return None;
    }
    let clean: String = s.chars().filter(|&c| c != '_').collect();
    let f: f64 = clean.parse().ok()?;
    if f.is_infinite() { None } else { Some(f) }
}

/// Go's `underscoreOK` for a decimal literal: underscores only between
/// digits.
fn underscore_ok(s: &str) -> bool {
    let mut saw = b'^';
    let b = s.as_bytes();
    let start = usize::from(!b.is_empty() && (b[0] == b'+' || b[0] == b'-'));
    for &c in &b[start..] {
        if c.is_ascii_digit() {
            saw = b'0';
            continue;
        }
        if c == b'_' {
            if saw != b'0' {
                return false;
            }
            saw = b'_';
            continue;
        }
        if saw == b'_' {
            return false;
        }
        saw = b'!';
    }
    saw != b'_'
}

/// go-yaml's `isBase60Float`:
/// `^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$`.
fn is_base60_float(s: &str) -> bool {
    let b = s.as_bytes();
    let Some(&c) = b.first() else { return false };
    if !(c == b'+' || c == b'-' || c.is_ascii_digit()) || !s.contains(':') {
        return false;
    }
    let mut i = usize::from(c == b'+' || c == b'-');
    if i >= b.len() || !b[i].is_ascii_digit() {
        return false;
    }
    i += 1;
    while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'_') {
        i += 1;
    }
    let mut groups = 0;
    while i < b.len() && b[i] == b':' {
        i += 1;
        if i + 1 < b.len() && (b'0'..=b'5').contains(&b[i]) && b[i + 1].is_ascii_digit() {
            i += 2;
        } else if i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        } else {
            return false;
        }
        groups += 1;
    }
    if groups == 0 {
        return false;
    }
    if i < b.len() && b[i] == b'.' {
        i += 1;
        while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'_') {
            i += 1;
        }
    }
    i == b.len()
}

/// go-yaml v2 `parseTimestamp`: the string starts with four digits and `-`
/// and Go's `time.Parse` accepts it with one of the layouts
/// `2006-1-2T15:4:5.999999999Z07:00`, `2006-1-2t15:4:5.999999999Z07:00`,
/// `2006-1-2 15:4:5.999999999` or `2006-1-2`.
fn is_go_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < 5 || !b[..4].iter().all(u8::is_ascii_digit) || b[4] != b'-' {
        return false;
    }
    [Some(b'T'), Some(b't'), Some(b' '), None]
        .iter()
        .any(|&sep| go_time_parse(b, sep))
}

/// One digit or two (Go's `getnum(s, false)`).
fn getnum(b: &[u8], i: &mut usize) -> Option<u32> {
    let d0 = *b.get(*i).filter(|c| c.is_ascii_digit())?;
    *i += 1;
    match b.get(*i) {
        Some(&d1) if d1.is_ascii_digit() => {
            *i += 1;
            Some(u32::from(d0 - b'0') * 10 + u32::from(d1 - b'0'))
        }
        _ => Some(u32::from(d0 - b'0')),
    }
}

fn expect(b: &[u8], i: &mut usize, c: u8) -> Option<()> {
    if b.get(*i) == Some(&c) {
        *i += 1;
        Some(())
    } else {
        None
    }
}

/// Go's `time.Parse` for the go-yaml layouts; `sep` is the byte between
/// date and time (`None`: date only).
fn go_time_parse(b: &[u8], sep: Option<u8>) -> bool {
    let parse = || -> Option<()> {
        let year: u32 = std::str::from_utf8(&b[..4]).ok()?.parse().ok()?;
        let mut i = 4;
        expect(b, &mut i, b'-')?;
        let month = getnum(b, &mut i)?;
        if !(1..=12).contains(&month) {
            return None;
        }
        expect(b, &mut i, b'-')?;
        let day = getnum(b, &mut i)?;
        if let Some(sep) = sep {
            if sep == b' ' {
                // A space in a Go layout matches one or more spaces.
                if b.get(i) != Some(&b' ') {
                    return None;
                }
                while b.get(i) == Some(&b' ') {
                    i += 1;
                }
            } else {
                expect(b, &mut i, sep)?;
            }
            if getnum(b, &mut i)? >= 24 {
                return None;
            }
            expect(b, &mut i, b':')?;
            if getnum(b, &mut i)? >= 60 {
                return None;
            }
            expect(b, &mut i, b':')?;
            if getnum(b, &mut i)? >= 60 {
                return None;
            }
            // Optional fractional seconds: '.' or ',' then digits.
            if i + 1 < b.len() && (b[i] == b'.' || b[i] == b',') && b[i + 1].is_ascii_digit() {
                i += 1;
                while i < b.len() && b[i].is_ascii_digit() {
                    i += 1;
                }
            }
            if sep != b' ' {
                // Z07:00
                if b.get(i) == Some(&b'Z') {
                    i += 1;
                } else {
                    if b.len() < i + 6 || b[i + 3] != b':' {
                        return None;
                    }
                    let num2 = |k: usize| -> Option<u32> {
                        let (x, y) = (b[k], b[k + 1]);
                        (x.is_ascii_digit() && y.is_ascii_digit())
                            .then(|| u32::from(x - b'0') * 10 + u32::from(y - b'0'))
                    };
                    let hh = num2(i + 1)?;
                    let mm = num2(i + 4)?;
                    if hh > 24 || mm > 60 || !(b[i] == b'+' || b[i] == b'-') {
                        return None;
                    }
                    i += 6;
                }
            }
        }
        if i != b.len() {
            return None;
        }
        let leap =
            year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400));
        let days = match month {
            2 if leap => 29,
            2 => 28,
            4 | 6 | 9 | 11 => 30,
            _ => 31,
        };
        (day >= 1 && day <= days).then_some(())
    };
    parse().is_some()
}

// ---------------------------------------------------------------------------
// Key ordering (go-yaml v2 sorter.go, keyList.Less for string keys)
// ---------------------------------------------------------------------------

fn go_is_letter(c: char) -> bool {
    if c.is_ascii() {
        c.is_ascii_alphabetic()
    } else {
        c.is_alphabetic()
    }
}

fn go_is_digit(c: char) -> bool {
    if c.is_ascii() {
        c.is_ascii_digit()
    } else {
        c.is_numeric()
    }
}

/// go-yaml v2's `keyList.Less` for two string keys.
fn key_less(a: &[char], b: &[char]) -> bool {
    for i in 0..a.len().min(b.len()) {
        if a[i] == b[i] {
            continue;
        }
        let al = go_is_letter(a[i]);
        let bl = go_is_letter(b[i]);
        if al && bl {
            return a[i] < b[i];
        }
        if al || bl {
            return bl;
        }
        // A zero after a non-zero digit is not a leading zero: both numbers start at 1.
        let after_non_zero = (a[i] == '0' || b[i] == '0')
            && a[..i]
                .iter()
                .rev()
                .take_while(|&&c| go_is_digit(c))
                .any(|&c| c != '0');
        let start = i64::from(after_non_zero);
        let (an, ai) = digit_run(a, i, start);
        let (bn, bi) = digit_run(b, i, start);
        if an != bn {
            return an < bn;
        }
        if ai != bi {
            return ai < bi;
        }
        return a[i] < b[i];
    }
    a.len() < b.len()
}

/// The digits of `s` from `from` on, read onto `start` as Go's int arithmetic reads them
/// (wrapping), and the index after them.
fn digit_run(s: &[char], from: usize, start: i64) -> (i64, usize) {
    let mut n = start;
    let mut end = from;
    while end < s.len() && go_is_digit(s[end]) {
        n = n
            .wrapping_mul(10)
            .wrapping_add(i64::from(s[end] as i32 - '0' as i32));
        end += 1;
    }
    (n, end)
}

/// Sorts with go-yaml's `Less` (a merge sort that only asks `less(a, b)`).
///
/// For keys on which go-yaml's `Less` is a strict total order (the keys of
/// Kubernetes and Calico objects in practice) every sorting algorithm gives
/// Go's order.
/// For a few odd key sets `Less` is not transitive (`"1xa" < "6x" < "13x"
/// < "1xa"`); Go then sorts the keys in its random map iteration order and
/// its own output varies from run to run.
fn sort_keys<T>(items: Vec<(Vec<char>, T)>) -> Vec<(Vec<char>, T)> {
    if items.len() <= 1 {
        return items;
    }
    let mut left = items;
    let right = left.split_off(left.len() / 2);
    let left = sort_keys(left);
    let right = sort_keys(right);
    let mut out = Vec::with_capacity(left.len() + right.len());
    let mut l = left.into_iter().peekable();
    let mut r = right.into_iter().peekable();
    while let (Some(a), Some(b)) = (l.peek(), r.peek()) {
        if key_less(&b.0, &a.0) {
            out.extend(r.next());
        } else {
            out.extend(l.next());
        }
    }
    out.extend(l);
    out.extend(r);
    out
}

// ---------------------------------------------------------------------------
// Emitter (go-yaml v2 emitterc.go, for the events encode.go produces)
// ---------------------------------------------------------------------------

const BEST_INDENT: i64 = 2;
const BEST_WIDTH: usize = 80;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Style {
    Plain,
    Single,
    Double,
    Literal,
}

/// A node of the document as go-yaml's encoder sees it.
enum Node<'a> {
    Scalar(String, Style),
    Seq(Vec<Node<'a>>),
    Map(Vec<(Vec<char>, Node<'a>)>),
    Str(Cow<'a, str>),
}

/// Result of go-yaml's `yaml_emitter_analyze_scalar`.
struct Analysis {
    multiline: bool,
    flow_plain_allowed: bool,
    block_plain_allowed: bool,
    single_quoted_allowed: bool,
    block_allowed: bool,
}

fn analyze_scalar(value: &[char]) -> Analysis {
    let (Some(&first), Some(&last)) = (value.first(), value.last()) else {
        return Analysis {
            multiline: false,
            flow_plain_allowed: false,
            block_plain_allowed: true,
            single_quoted_allowed: true,
            block_allowed: false,
        };
    };
    let mut flow_indicators = false;
    let mut block_indicators = false;
    if value.starts_with(&['-', '-', '-']) || value.starts_with(&['.', '.', '.']) {
        flow_indicators = true;
        block_indicators = true;
    }
    let mut preceded_by_whitespace = true;
    for (i, &c) in value.iter().enumerate() {
        let followed_by_whitespace = value.get(i + 1).is_none_or(|&next| is_blank(next));
        let (flow, block) = indicators(c, i == 0, preceded_by_whitespace, followed_by_whitespace);
        flow_indicators |= flow;
        block_indicators |= block;
        preceded_by_whitespace = is_blankz(c);
    }
    let line_breaks = value.iter().any(|&c| is_break(c));
    let special_characters = value.iter().any(|&c| !is_printable(c));
    let break_space = value.windows(2).any(|w| is_break(w[0]) && w[1] == ' ');
    let space_break = value.windows(2).any(|w| w[0] == ' ' && is_break(w[1]));
    let (leading_space, trailing_space) = (first == ' ', last == ' ');
    let spaces_or_breaks_at_the_ends =
        leading_space || trailing_space || is_break(first) || is_break(last);

    // What rules each style out.
    let quoting_needed = break_space || space_break || special_characters;
    let plain_ruled_out = spaces_or_breaks_at_the_ends || quoting_needed || line_breaks;
    Analysis {
        multiline: line_breaks,
        flow_plain_allowed: !plain_ruled_out && !flow_indicators,
        block_plain_allowed: !plain_ruled_out && !block_indicators,
        single_quoted_allowed: !quoting_needed,
        block_allowed: !trailing_space && !space_break && !special_characters,
    }
}

/// Whether a character is a flow and a block indicator where it stands (go-yaml's
/// `yaml_emitter_analyze_scalar`): the first character has more meanings than the others.
fn indicators(
    c: char,
    first: bool,
    preceded_by_whitespace: bool,
    followed_by_whitespace: bool,
) -> (bool, bool) {
    if first {
        match c {
            '#' | ',' | '[' | ']' | '{' | '}' | '&' | '*' | '!' | '|' | '>' | '\'' | '"' | '%'
            | '@' | '`' => (true, true),
            '?' | ':' => (true, followed_by_whitespace),
            '-' => (followed_by_whitespace, followed_by_whitespace),
            _ => (false, false),
        }
    } else {
        match c {
            ',' | '?' | '[' | ']' | '{' | '}' => (true, false),
            ':' => (true, followed_by_whitespace),
            '#' => (preceded_by_whitespace, preceded_by_whitespace),
            _ => (false, false),
        }
    }
}

/// The style go-yaml's encoder asks for a string (`encoder.stringv`).
fn string_style(s: &str) -> Style {
    if s.contains('\n') {
        Style::Literal
    } else if resolve_plain(s) == Resolved::Str && !is_base60_float(s) {
        Style::Plain
    } else {
        Style::Double
    }
}

/// go-yaml's scalar text for a JSON number, after the JSON text went through
/// go-yaml's resolver (`int`, `uint64` or `float64`).
fn number_text(n: &serde_json::Number) -> String {
    let json = gojson::format_number(n);
    match resolve_plain(&json) {
        Resolved::Int(i) => i.to_string(),
        Resolved::Uint(u) => u.to_string(),
        Resolved::Float(f) => float_text(f),
        _ => json,
    }
}

/// go-yaml's `floatv`.
fn float_text(f: f64) -> String {
    match gojson::format_float_g(f).as_str() {
        "+Inf" => ".inf".to_string(),
        "-Inf" => "-.inf".to_string(),
        "NaN" => ".nan".to_string(),
        s => s.to_string(),
    }
}

/// The string go-yaml reads from the JSON text `json.Marshal` wrote for `s`.
///
/// `json.Marshal` leaves NEL (U+0085) unescaped, and inside go-yaml's
/// double-quoted scalar a raw NEL is a line break: it is folded with the
/// spaces around it (one break becomes a space, further breaks stay as line
/// feeds). Every other character survives unchanged.
fn through_json(s: &str) -> Cow<'_, str> {
    if !s.contains('\u{85}') {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    loop {
        while let Some(&c) = chars.peek() {
            if c == ' ' || c == '\u{85}' {
                break;
            }
            out.push(c);
            chars.next();
        }
        if chars.peek().is_none() {
            break;
        }
        let mut whitespaces = 0;
        let mut leading_break = false;
        let mut trailing_breaks = 0;
        while let Some(&c) = chars.peek() {
            match c {
                ' ' if !leading_break => whitespaces += 1,
                ' ' => {}
                '\u{85}' if !leading_break => leading_break = true,
                '\u{85}' => trailing_breaks += 1,
                _ => break,
            }
            chars.next();
        }
        if !leading_break {
            out.extend(std::iter::repeat_n(' ', whitespaces));
        } else if trailing_breaks == 0 {
            out.push(' ');
        } else {
            out.extend(std::iter::repeat_n('\n', trailing_breaks));
        }
    }
    Cow::Owned(out)
}

fn to_node(v: &Value) -> Node<'_> {
    match v {
        Value::Null => Node::Scalar("null".to_string(), Style::Plain),
        Value::Bool(b) => Node::Scalar(b.to_string(), Style::Plain),
        Value::Number(n) => Node::Scalar(number_text(n), Style::Plain),
        Value::String(s) => Node::Str(through_json(s)),
        Value::Array(items) => Node::Seq(items.iter().map(to_node).collect()),
        Value::Object(map) => Node::Map(sort_keys(
            map.iter()
                .map(|(k, v)| (through_json(k).chars().collect(), to_node(v)))
                .collect(),
        )),
    }
}

struct Emitter {
    out: String,
    column: usize,
    indent: i64,
    indents: Vec<i64>,
    whitespace: bool,
    indention: bool,
    flow_level: usize,
    mapping_context: bool,
    simple_key_context: bool,
}

impl Emitter {
    fn new() -> Self {
        Emitter {
            out: String::new(),
            column: 0,
            indent: -1,
            indents: Vec::new(),
            whitespace: true,
            indention: true,
            flow_level: 0,
            mapping_context: false,
            simple_key_context: false,
        }
    }

    fn put(&mut self, c: char) {
        self.out.push(c);
        self.column += 1;
    }

    fn put_break(&mut self) {
        self.out.push('\n');
        self.column = 0;
    }

    fn write_break(&mut self, c: char) {
        if c == '\n' {
            self.put_break();
        } else {
            self.out.push(c);
            self.column = 0;
        }
    }

    fn increase_indent(&mut self, flow: bool, indentless: bool) {
        self.indents.push(self.indent);
        if self.indent < 0 {
            self.indent = if flow { BEST_INDENT } else { 0 };
        } else if !indentless {
            self.indent += BEST_INDENT;
        }
    }

    fn pop_indent(&mut self) {
        self.indent = self.indents.pop().unwrap_or(-1);
    }

    fn write_indent(&mut self) {
        let indent = self.indent.max(0) as usize;
        if !self.indention || self.column > indent || (self.column == indent && !self.whitespace) {
            self.put_break();
        }
        while self.column < indent {
            self.put(' ');
        }
        self.whitespace = true;
        self.indention = true;
    }

    fn write_indicator(&mut self, ind: &str, need_ws: bool, is_ws: bool, is_indention: bool) {
        if need_ws && !self.whitespace {
            self.put(' ');
        }
        for c in ind.chars() {
            self.put(c);
        }
        self.whitespace = is_ws;
        self.indention = self.indention && is_indention;
    }

    fn emit_node(&mut self, node: &Node<'_>, mapping: bool, simple_key: bool) {
        self.mapping_context = mapping;
        self.simple_key_context = simple_key;
        match node {
            Node::Scalar(text, style) => {
                let chars: Vec<char> = text.chars().collect();
                self.emit_scalar(&chars, *style);
            }
            Node::Str(s) => {
                let chars: Vec<char> = s.chars().collect();
                self.emit_scalar(&chars, string_style(s));
            }
            Node::Seq(items) if items.is_empty() => self.emit_empty_flow("[", "]"),
            Node::Map(entries) if entries.is_empty() => self.emit_empty_flow("{", "}"),
            Node::Seq(items) => {
                let indentless = self.mapping_context && !self.indention;
                self.increase_indent(false, indentless);
                for item in items {
                    self.write_indent();
                    self.write_indicator("-", true, false, true);
                    self.emit_node(item, false, false);
                }
                self.pop_indent();
            }
            Node::Map(entries) => {
                self.increase_indent(false, false);
                for (key, value) in entries {
                    self.write_indent();
                    let key_str: String = key.iter().collect();
                    let style = string_style(&key_str);
                    let simple = key_str.len() <= 128 && !analyze_scalar(key).multiline;
                    if simple {
                        self.mapping_context = true;
                        self.simple_key_context = true;
                        self.emit_scalar(key, style);
                        self.write_indicator(":", false, false, false);
                    } else {
                        self.write_indicator("?", true, false, true);
                        self.mapping_context = true;
                        self.simple_key_context = false;
                        self.emit_scalar(key, style);
                        self.write_indent();
                        self.write_indicator(":", true, false, true);
                    }
                    self.emit_node(value, true, false);
                }
                self.pop_indent();
            }
        }
    }

    fn emit_empty_flow(&mut self, open: &str, close: &str) {
        self.write_indicator(open, true, true, false);
        self.increase_indent(true, false);
        self.flow_level += 1;
        self.flow_level -= 1;
        self.pop_indent();
        self.write_indicator(close, false, false, false);
    }

    fn emit_scalar(&mut self, value: &[char], requested: Style) {
        let a = analyze_scalar(value);
        let mut style = requested;
        if self.simple_key_context && a.multiline {
            style = Style::Double;
        }
        if style == Style::Plain {
            if (self.flow_level > 0 && !a.flow_plain_allowed)
                || (self.flow_level == 0 && !a.block_plain_allowed)
            {
                style = Style::Single;
            }
            if value.is_empty() && (self.flow_level > 0 || self.simple_key_context) {
                style = Style::Single;
            }
        }
        if style == Style::Single && !a.single_quoted_allowed {
            style = Style::Double;
        }
        if style == Style::Literal
            && (!a.block_allowed || self.flow_level > 0 || self.simple_key_context)
        {
            style = Style::Double;
        }
        self.increase_indent(true, false);
        let allow_breaks = !self.simple_key_context;
        match style {
            Style::Plain => self.write_plain(value, allow_breaks),
            Style::Single => self.write_single_quoted(value, allow_breaks),
            Style::Double => self.write_double_quoted(value, allow_breaks),
            Style::Literal => self.write_literal(value),
        }
        self.pop_indent();
    }

    fn write_plain(&mut self, value: &[char], allow_breaks: bool) {
        if !self.whitespace {
            self.put(' ');
        }
        // A plain scalar may break at any single space past the width.
        self.write_folding(
            value,
            allow_breaks,
            |i| value.get(i + 1) != Some(&' '),
            None,
        );
        self.whitespace = false;
        self.indention = false;
    }

    fn write_single_quoted(&mut self, value: &[char], allow_breaks: bool) {
        self.write_indicator("'", true, false, false);
        // A quoted one never at its first or last character.
        let n = value.len();
        let breakable = |i: usize| i > 0 && i + 1 < n && value[i + 1] != ' ';
        self.write_folding(value, allow_breaks, breakable, Some('\''));
        self.write_indicator("'", false, false, false);
        self.whitespace = false;
        self.indention = false;
    }

    /// The text of a plain or single-quoted scalar: line breaks written as breaks, a space past
    /// the best width turned into a line break where `breakable(index)` allows it, and `quote`
    /// doubled.
    fn write_folding(
        &mut self,
        value: &[char],
        allow_breaks: bool,
        breakable: impl Fn(usize) -> bool,
        quote: Option<char>,
    ) {
        let mut spaces = false;
        let mut breaks = false;
        for (i, &c) in value.iter().enumerate() {
            if c == ' ' {
                if allow_breaks && !spaces && self.column > BEST_WIDTH && breakable(i) {
                    self.write_indent();
                } else {
                    self.put(c);
                }
                spaces = true;
            } else if is_break(c) {
                if !breaks && c == '\n' {
                    self.put_break();
                }
                self.write_text_break(c);
                breaks = true;
            } else {
                self.write_text_char(c, breaks);
                if Some(c) == quote {
                    self.put(c);
                }
                spaces = false;
                breaks = false;
            }
        }
    }

    /// A line break in a scalar's text.
    fn write_text_break(&mut self, c: char) {
        self.write_break(c);
        self.indention = true;
    }

    /// A character of a scalar's text, indented first when it starts a line (`after_break`).
    fn write_text_char(&mut self, c: char, after_break: bool) {
        if after_break {
            self.write_indent();
        }
        self.put(c);
        self.indention = false;
    }

    fn write_double_quoted(&mut self, value: &[char], allow_breaks: bool) {
        let mut spaces = false;
        self.write_indicator("\"", true, false, false);
        // go-yaml's is_bom() looks at the start of the value, not at the
        // current character: a leading BOM makes it escape everything.
        let bom = value.first() == Some(&'\u{FEFF}');
        let n = value.len();
        for (i, &c) in value.iter().enumerate() {
            if !is_printable(c) || bom || is_break(c) || c == '"' || c == '\\' {
                self.put('\\');
                let v = c as u32;
                match v {
                    0x00 => self.put('0'),
                    0x07 => self.put('a'),
                    0x08 => self.put('b'),
                    0x09 => self.put('t'),
                    0x0A => self.put('n'),
                    0x0B => self.put('v'),
                    0x0C => self.put('f'),
                    0x0D => self.put('r'),
                    0x1B => self.put('e'),
                    0x22 => self.put('"'),
                    0x5C => self.put('\\'),
                    0x85 => self.put('N'),
                    0xA0 => self.put('_'),
                    0x2028 => self.put('L'),
                    0x2029 => self.put('P'),
                    _ => {
                        let (letter, width) = if v <= 0xFF {
                            ('x', 2)
                        } else if v <= 0xFFFF {
                            ('u', 4)
                        } else {
                            ('U', 8)
                        };
                        self.put(letter);
                        for k in (0..width).rev() {
                            let digit = (v >> (4 * k)) & 0xF;
                            self.put(
                                std::char::from_digit(digit, 16)
                                    .unwrap_or('0')
                                    .to_ascii_uppercase(),
                            );
                        }
                    }
                }
                spaces = false;
            } else if c == ' ' {
                if allow_breaks && !spaces && self.column > BEST_WIDTH && i > 0 && i + 1 < n {
                    self.write_indent();
                    if value[i + 1] == ' ' {
                        self.put('\\');
                    }
                } else {
                    self.put(c);
                }
                spaces = true;
            } else {
                self.put(c);
                spaces = false;
            }
        }
        self.write_indicator("\"", false, false, false);
        self.whitespace = false;
        self.indention = false;
    }

    fn write_literal(&mut self, value: &[char]) {
        self.write_indicator("|", true, false, false);
        // Block scalar hints.
        if value.first().is_some_and(|&c| c == ' ' || is_break(c)) {
            self.write_indicator(&BEST_INDENT.to_string(), false, false, false);
        }
        let chomp = match value {
            [] => Some("-"),
            [.., last] if !is_break(*last) => Some("-"),
            [_] => Some("+"),
            [.., prev, _] if is_break(*prev) => Some("+"),
            _ => None,
        };
        if let Some(ch) = chomp {
            self.write_indicator(ch, false, false, false);
        }
        self.put_break();
        self.indention = true;
        self.whitespace = true;
        let mut breaks = true;
        for &c in value {
            if is_break(c) {
                self.write_text_break(c);
            } else {
                self.write_text_char(c, breaks);
            }
            breaks = is_break(c);
        }
    }
}

/// What `sigs.k8s.io/yaml.Marshal` writes for an object whose JSON is `v`.
pub fn to_yaml(v: &Value) -> String {
    let node = to_node(v);
    let mut e = Emitter::new();
    e.emit_node(&node, false, false);
    // Implicit document end.
    e.write_indent();
    e.out
}

// ---------------------------------------------------------------------------
// Reader
// ---------------------------------------------------------------------------

/// Error from [`from_yaml`]; `line` and `column` are 1-based (0 when the
/// error is not tied to a position).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlError {
    pub message: String,
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for YamlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "yaml: {}", self.message)
        } else {
            write!(
                f,
                "yaml: line {}, column {}: {}",
                self.line, self.column, self.message
            )
        }
    }
}

impl std::error::Error for YamlError {}

fn plain_error(message: impl Into<String>) -> YamlError {
    YamlError {
        message: message.into(),
        line: 0,
        column: 0,
    }
}

/// A decoded node, as go-yaml v2 decodes into `interface{}`.
#[derive(Debug, Clone)]
enum Yaml {
    Null,
    Bool(bool),
    Int(i64),
    Uint(u64),
    Float(f64),
    BigInt(f64),
    Str(String),
    Seq(Vec<Yaml>),
    Map(Vec<(Yaml, Yaml)>),
}

const TAG_PREFIX: &str = "tag:yaml.org,2002:";

/// Reads one YAML document, as go-yaml v2 (and so `sigs.k8s.io/yaml`)
/// reads it, into a JSON value. See the module documentation for the rules.
pub fn from_yaml(text: &str) -> Result<Value, YamlError> {
    let mut reader = Reader::new(text)?;
    let Some(first) = reader.next_document()? else {
        return Ok(Value::Null);
    };
    let mut n = 1;
    while reader.next_document()?.is_some() {
        n += 1;
    }
    if n > 1 {
        return Err(plain_error(format!(
            "expected a single YAML document, found {n}"
        )));
    }
    yaml_to_json(first)
}

/// Reads every document of a YAML stream (documents separated by `---`),
/// each as [`from_yaml`] reads one. Documents that hold no node at all
/// (for example after a final `---`) are left out.
pub fn from_yaml_documents(text: &str) -> Result<Vec<Value>, YamlError> {
    let mut reader = Reader::new(text)?;
    let mut docs = Vec::new();
    while let Some(doc) = reader.next_document()? {
        docs.push(yaml_to_json(doc)?);
    }
    Ok(docs)
}

fn yaml_to_json(y: Yaml) -> Result<Value, YamlError> {
    Ok(match y {
        Yaml::Null => Value::Null,
        Yaml::Bool(b) => Value::Bool(b),
        Yaml::Int(i) => Value::from(i),
        Yaml::Uint(u) => Value::from(u),
        Yaml::Float(f) | Yaml::BigInt(f) => match serde_json::Number::from_f64(f) {
            Some(n) => Value::Number(n),
            None => return Err(plain_error(format!("unsupported value: {}", float_text(f)))),
        },
        Yaml::Str(s) => Value::String(s),
        Yaml::Seq(items) => Value::Array(
            items
                .into_iter()
                .map(yaml_to_json)
                .collect::<Result<_, _>>()?,
        ),
        Yaml::Map(entries) => {
            let mut map = Map::new();
            for (k, v) in entries {
                let key = key_string(&k)?;
                map.insert(key, yaml_to_json(v)?);
            }
            Value::Object(map)
        }
    })
}

/// `sigs.k8s.io/yaml`'s conversion of a decoded key to a JSON key.
fn key_string(k: &Yaml) -> Result<String, YamlError> {
    Ok(match k {
        Yaml::Str(s) => s.clone(),
        Yaml::Int(i) => i.to_string(),
        Yaml::Bool(b) => b.to_string(),
        Yaml::Float(f) => match gojson::format_float_g32(*f).as_str() {
            "+Inf" => ".inf".to_string(),
            "-Inf" => "-.inf".to_string(),
            "NaN" => ".nan".to_string(),
            s => s.to_string(),
        },
        Yaml::Null => return Err(plain_error("unsupported map key: null")),
        Yaml::Uint(u) => {
            return Err(plain_error(format!(
                "unsupported map key of type uint64: {u}"
            )));
        }
        Yaml::BigInt(_) => return Err(plain_error("unsupported map key of type *big.Int")),
        Yaml::Seq(_) | Yaml::Map(_) => {
            return Err(plain_error("unsupported map key: a collection"));
        }
    })
}

/// Standard base64 (as Go's `base64.StdEncoding.DecodeString`, which skips
/// CR and LF).
fn decode_base64(s: &str) -> Option<Vec<u8>> {
    let clean: Vec<u8> = s.bytes().filter(|&b| b != b'\r' && b != b'\n').collect();
    if !clean.len().is_multiple_of(4) {
        return None;
    }
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let mut out = Vec::new();
    let chunks = clean.len() / 4;
    for (n, chunk) in clean.chunks(4).enumerate() {
        let pad = chunk.iter().rev().take_while(|&&c| c == b'=').count();
        if pad > 2 || (pad > 0 && n + 1 != chunks) {
            return None;
        }
        let mut acc = 0u32;
        for &c in &chunk[..4 - pad] {
            acc = (acc << 6) | val(c)?;
        }
        acc <<= 6 * pad as u32;
        let bytes = [(acc >> 16) as u8, (acc >> 8) as u8, acc as u8];
        out.extend_from_slice(&bytes[..3 - pad]);
    }
    Some(out)
}

/// Nesting limit (far beyond any Kubernetes object).
const MAX_DEPTH: usize = 200;

/// Limit on nodes copied by alias expansion.
const MAX_ALIAS_NODES: usize = 1_000_000;

/// Number of nodes in `y`, counting no further than `limit`.
fn node_count(y: &Yaml, limit: usize) -> usize {
    let mut n = 1;
    match y {
        Yaml::Seq(items) => {
            for item in items {
                if n > limit {
                    break;
                }
                n += node_count(item, limit);
            }
        }
        Yaml::Map(entries) => {
            for (k, v) in entries {
                if n > limit {
                    break;
                }
                n += node_count(k, limit) + node_count(v, limit);
            }
        }
        _ => {}
    }
    n
}

fn error_at(at: &Marker, message: impl Into<String>) -> YamlError {
    YamlError {
        message: message.into(),
        line: at.line(),
        column: at.col() + 1,
    }
}

/// A parser error, in go-yaml's words where a caller may look for them.
fn scan_error(e: &ScanError, text: &str) -> YamlError {
    let message = match e.kind() {
        ErrorKind::TabInPlainScalar => {
            // Reported at the scalar's start; the tab is in the indentation
            // of one of its continuation lines.
            let message = "found a tab character where an indentation space is expected";
            return match indentation_tab_after(text, e.marker().line()) {
                Some((line, column)) => YamlError {
                    message: message.to_string(),
                    line,
                    column,
                },
                None => error_at(e.marker(), message),
            };
        }
        ErrorKind::TabInIndentation | ErrorKind::TabInBlockIndentation => {
            "found a tab character where an indentation space is expected".to_string()
        }
        ErrorKind::UnclosedQuotedScalar => {
            "while scanning a quoted scalar, found unexpected end of stream".to_string()
        }
        ErrorKind::InvalidQuotedScalarIndent => {
            "while scanning a quoted scalar, found a line indented too little (is the quote closed?)"
                .to_string()
        }
        ErrorKind::UnknownAnchor => match alias_name_at(text, e.marker()) {
            Some(name) => format!("unknown anchor '{name}' referenced"),
            None => "found an alias to an unknown anchor".to_string(),
        },
        ErrorKind::RecursionLimitExceeded => "exceeded max depth of nested collections".to_string(),
        kind => kind.to_string(),
    };
    error_at(e.marker(), message)
}

/// The name of the alias (`*name`) at `at`, if there is one.
fn alias_name_at<'t>(text: &'t str, at: &Marker) -> Option<&'t str> {
    let start = match at.byte_offset() {
        Some(offset) => offset,
        None => text.char_indices().nth(at.index())?.0,
    };
    let name = text.get(start..)?.strip_prefix('*')?;
    let end = name
        .find(|c: char| c.is_whitespace() || matches!(c, ',' | '[' | ']' | '{' | '}'))
        .unwrap_or(name.len());
    Some(&name[..end]).filter(|name| !name.is_empty())
}

/// The first tab in the indentation of a non-blank line after line
/// `after` (1-based line and column).
fn indentation_tab_after(text: &str, after: usize) -> Option<(usize, usize)> {
    text.lines()
        .enumerate()
        .skip(after)
        .filter(|(_, line)| !line.trim_matches([' ', '\t']).is_empty())
        .find_map(|(n, line)| {
            let indentation = line.len() - line.trim_start_matches([' ', '\t']).len();
            line[..indentation].find('\t').map(|i| (n + 1, i + 1))
        })
}

/// Refuses the characters go-yaml's reader refuses.
fn check_characters(text: &str) -> Result<(), YamlError> {
    let (mut line, mut column) = (1, 1);
    for c in text.chars() {
        let v = c as u32;
        let allowed = matches!(c, '\t' | '\n' | '\r')
            || (0x20..=0x7E).contains(&v)
            || v == 0x85
            || (0xA0..=0xD7FF).contains(&v)
            || (0xE000..=0xFFFD).contains(&v)
            || v >= 0x10000;
        if !allowed {
            return Err(YamlError {
                message: format!("control characters are not allowed (U+{v:04X})"),
                line,
                column,
            });
        }
        if c == '\n' {
            line += 1;
            column = 1;
        } else {
            column += 1;
        }
    }
    Ok(())
}

/// A collection whose end event has not come yet.
struct Open {
    items: OpenItems,
    /// Anchor id (0: none).
    anchor: usize,
    /// The tag's name in the `tag:yaml.org,2002:` namespace, if it has one.
    core_tag: Option<String>,
    start: Marker,
}

enum OpenItems {
    Seq(Vec<Yaml>),
    /// Entries so far, and a key waiting for its value.
    Map(Vec<(Yaml, Yaml)>, Option<Yaml>),
}

/// Builds go-yaml's `interface{}` values from granit-parser's events, one
/// document at a time.
struct Reader<'a> {
    text: &'a str,
    events: granit_parser::Parser<'a, granit_parser::StrInput<'a>>,
    /// Nodes of the current document by anchor id.
    anchors: HashMap<usize, Yaml>,
    /// Nodes copied by alias expansion in the current document.
    alias_nodes: usize,
}

impl<'a> Reader<'a> {
    fn new(text: &'a str) -> Result<Reader<'a>, YamlError> {
        check_characters(text)?;
        let mut options = granit_parser::Options::default();
        options.set_emit_comments(false);
        options.flow_nesting_limit = MAX_DEPTH;
        options.block_nesting_limit = MAX_DEPTH;
        Ok(Reader {
            text,
            events: granit_parser::Parser::new_from_str_with_options(text, options),
            anchors: HashMap::new(),
            alias_nodes: 0,
        })
    }

    fn next_event(&mut self) -> Result<Option<(Event<'a>, Span)>, YamlError> {
        match self.events.next() {
            None => Ok(None),
            Some(Ok(next)) => Ok(Some(next)),
            Some(Err(e)) => Err(scan_error(&e, self.text)),
        }
    }

    /// The next document that holds a node; `None` at the end of the
    /// stream.
    fn next_document(&mut self) -> Result<Option<Yaml>, YamlError> {
        while let Some((event, _)) = self.next_event()? {
            if let Event::DocumentStart(..) = event
                && let Some(doc) = self.document()?
            {
                return Ok(Some(doc));
            }
        }
        Ok(None)
    }

    /// The events of one document, up to its end; `None` when it holds no
    /// node at all.
    fn document(&mut self) -> Result<Option<Yaml>, YamlError> {
        self.anchors.clear();
        self.alias_nodes = 0;
        let mut stack: Vec<Open> = Vec::new();
        let mut root = None;
        loop {
            let Some((event, span)) = self.next_event()? else {
                return Err(plain_error("unexpected end of the YAML stream"));
            };
            let is_seq = matches!(event, Event::SequenceStart(..));
            let node = match event {
                Event::DocumentEnd => return Ok(root),
                Event::Scalar(text, style, anchor, tag) => {
                    // The parser stands in `~` for a missing node; a document
                    // with nothing else holds no node.
                    if stack.is_empty()
                        && anchor == 0
                        && tag.is_none()
                        && span.start.index() == span.end.index()
                    {
                        continue;
                    }
                    let plain = style == ScalarStyle::Plain;
                    let y = scalar_value(text.into_owned(), plain, tag.as_deref(), &span.start)?;
                    self.record(anchor, &y);
                    y
                }
                Event::Alias(id) => self.alias(id, &span)?,
                Event::SequenceStart(_, anchor, tag) | Event::MappingStart(_, anchor, tag) => {
                    let items = if is_seq {
                        OpenItems::Seq(Vec::new())
                    } else {
                        OpenItems::Map(Vec::new(), None)
                    };
                    if stack.len() >= MAX_DEPTH {
                        return Err(error_at(
                            &span.start,
                            "exceeded max depth of nested collections",
                        ));
                    }
                    let core_tag = tag
                        .as_deref()
                        .and_then(|t| t.suffix_in_namespace(TAG_PREFIX))
                        .map(Cow::into_owned);
                    stack.push(Open {
                        items,
                        anchor,
                        core_tag,
                        start: span.start,
                    });
                    continue;
                }
                Event::SequenceEnd | Event::MappingEnd => {
                    let Some(open) = stack.pop() else {
                        return Err(error_at(&span.start, "unexpected end of a collection"));
                    };
                    let y = match open.items {
                        OpenItems::Seq(items) => Yaml::Seq(items),
                        OpenItems::Map(mut entries, pending) => {
                            if let Some(key) = pending {
                                entries.push((key, Yaml::Null));
                            }
                            Yaml::Map(entries)
                        }
                    };
                    match (open.core_tag.as_deref(), &y) {
                        (Some("map"), Yaml::Map(_)) | (Some("seq"), Yaml::Seq(_)) | (None, _) => {}
                        (Some(expected @ ("map" | "seq")), _) => {
                            return Err(error_at(
                                &open.start,
                                format!("cannot decode node as !!{expected}"),
                            ));
                        }
                        _ => {}
                    }
                    self.record(open.anchor, &y);
                    y
                }
                _ => continue,
            };
            match stack.last_mut() {
                None => root = Some(node),
                Some(Open {
                    items: OpenItems::Seq(items),
                    ..
                }) => items.push(node),
                Some(Open {
                    items: OpenItems::Map(entries, pending),
                    ..
                }) => match pending.take() {
                    None => *pending = Some(node),
                    Some(key) => entries.push((key, node)),
                },
            }
        }
    }

    fn record(&mut self, anchor: usize, y: &Yaml) {
        if anchor != 0 {
            self.anchors.insert(anchor, y.clone());
        }
    }

    fn alias(&mut self, id: usize, span: &Span) -> Result<Yaml, YamlError> {
        let Some(y) = self.anchors.get(&id) else {
            // The parser knows the anchor, but its node is not complete:
            // the alias is inside it.
            let name = span.slice(self.text).unwrap_or("").trim_start_matches('*');
            return Err(error_at(
                &span.start,
                format!("anchor '{name}' value contains itself"),
            ));
        };
        // Guard against "billion laughs" documents.
        self.alias_nodes += node_count(y, MAX_ALIAS_NODES);
        if self.alias_nodes > MAX_ALIAS_NODES {
            return Err(error_at(
                &span.start,
                "document contains excessive aliasing",
            ));
        }
        Ok(y.clone())
    }
}

/// A scalar's value: plain scalars without a tag are resolved, quoted and
/// block scalars are strings, tags apply as go-yaml v2 applies them.
fn scalar_value(
    text: String,
    plain: bool,
    tag: Option<&Tag>,
    at: &Marker,
) -> Result<Yaml, YamlError> {
    let Some(tag) = tag else {
        if !plain {
            return Ok(Yaml::Str(text));
        }
        return Ok(match resolve_plain(&text) {
            Resolved::Null => Yaml::Null,
            Resolved::Bool(b) => Yaml::Bool(b),
            Resolved::Int(i) => Yaml::Int(i),
            Resolved::Uint(u) => Yaml::Uint(u),
            Resolved::Float(f) => Yaml::Float(f),
            Resolved::BigInt(f) => Yaml::BigInt(f),
            Resolved::Timestamp | Resolved::Str => Yaml::Str(text),
        });
    };
    let Some(short) = tag.suffix_in_namespace(TAG_PREFIX) else {
        // "!" and application tags: go-yaml keeps the text.
        return Ok(Yaml::Str(text));
    };
    let short = short.as_ref();
    // Only untagged and !!timestamp scalars are tried as timestamps.
    let resolved = || resolve_scalar(&text, short == "timestamp");
    let mismatch = || {
        Err(error_at(
            at,
            format!("cannot decode `{text}` as a !!{short}"),
        ))
    };
    Ok(match short {
        "str" => Yaml::Str(text.clone()),
        "binary" => match decode_base64(&text) {
            Some(bytes) => Yaml::Str(String::from_utf8_lossy(&bytes).into_owned()),
            None => return Err(error_at(at, "!!binary value contains invalid base64 data")),
        },
        "null" => match resolved() {
            Resolved::Null => Yaml::Null,
            _ => return mismatch(),
        },
        "bool" => match resolved() {
            Resolved::Bool(b) => Yaml::Bool(b),
            _ => return mismatch(),
        },
        "int" => match resolved() {
            Resolved::Int(i) => Yaml::Int(i),
            Resolved::Uint(u) => Yaml::Uint(u),
            Resolved::BigInt(f) => Yaml::BigInt(f),
            _ => return mismatch(),
        },
        "float" => match resolved() {
            Resolved::Float(f) => Yaml::Float(f),
            Resolved::Int(i) => Yaml::Float(i as f64),
            _ => return mismatch(),
        },
        "timestamp" => match resolved() {
            Resolved::Timestamp => Yaml::Str(text.clone()),
            _ => return mismatch(),
        },
        "map" | "seq" => return mismatch(),
        _ => Yaml::Str(text.clone()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn y(v: Value) -> String {
        to_yaml(&v)
    }

    /// `key: <scalar>` for a string value.
    fn kv(s: &str) -> String {
        to_yaml(&json!({ "k": s }))
    }

    /// Checks the value read from each YAML text.
    fn assert_reads(cases: &[(&str, Value)]) {
        for (text, want) in cases {
            assert_eq!(&from_yaml(text).unwrap(), want, "for {text:?}");
        }
    }

    /// Checks the scalar written for each string (`k: <scalar>`).
    fn assert_kv(cases: &[(&str, &str)]) {
        for (s, want) in cases {
            assert_eq!(kv(s), format!("k: {want}\n"), "for {s:?}");
        }
    }

    // ----- the export example of docs/design.md §12.1 ------------------------

    #[test]
    fn export_example_ippool_list() {
        let list = json!({
            "kind": "IPPoolList",
            "apiVersion": "projectcalico.org/v3",
            "metadata": {"resourceVersion": "1234"},
            "items": [{
                "kind": "IPPool",
                "apiVersion": "projectcalico.org/v3",
                "metadata": {"name": "default-ipv4-ippool", "creationTimestamp": null},
                "spec": {
                    "cidr": "10.65.0.0/16",
                    "vxlanMode": "Never",
                    "ipipMode": "Always",
                    "natOutgoing": true,
                    "blockSize": 26,
                    "nodeSelector": "all()",
                    "allowedUses": ["Workload", "Tunnel"]
                }
            }]
        });
        let expected = "\
apiVersion: projectcalico.org/v3
items:
- apiVersion: projectcalico.org/v3
  kind: IPPool
  metadata:
    creationTimestamp: null
    name: default-ipv4-ippool
  spec:
    allowedUses:
    - Workload
    - Tunnel
    blockSize: 26
    cidr: 10.65.0.0/16
    ipipMode: Always
    natOutgoing: true
    nodeSelector: all()
    vxlanMode: Never
kind: IPPoolList
metadata:
  resourceVersion: \"1234\"
";
        assert_eq!(to_yaml(&list), expected);
        assert_eq!(from_yaml(expected).unwrap(), list);
    }

    #[test]
    fn export_example_node_list() {
        let list = json!({
            "kind": "NodeList",
            "apiVersion": "projectcalico.org/v3",
            "metadata": {"resourceVersion": "1234"},
            "items": [{
                "kind": "Node",
                "apiVersion": "projectcalico.org/v3",
                "metadata": {"name": "worker-1", "creationTimestamp": null},
                "spec": {
                    "bgp": {"ipv4Address": "10.0.0.11/24", "ipv4IPIPTunnelAddr": "10.65.79.0"},
                    "orchRefs": [{"nodeName": "worker-1", "orchestrator": "k8s"}]
                },
                "status": {}
            }]
        });
        let expected = "\
apiVersion: projectcalico.org/v3
items:
- apiVersion: projectcalico.org/v3
  kind: Node
  metadata:
    creationTimestamp: null
    name: worker-1
  spec:
    bgp:
      ipv4Address: 10.0.0.11/24
      ipv4IPIPTunnelAddr: 10.65.79.0
    orchRefs:
    - nodeName: worker-1
      orchestrator: k8s
  status: {}
kind: NodeList
metadata:
  resourceVersion: \"1234\"
";
        assert_eq!(to_yaml(&list), expected);
        assert_eq!(from_yaml(expected).unwrap(), list);
    }

    /// Expected text produced by go-yaml v2.4.0 through ghodss/yaml (the
    /// same Marshal chain as sigs.k8s.io/yaml).
    #[test]
    fn global_network_policy_list_as_go_writes_it() {
        let lac = "{\"apiVersion\":\"projectcalico.org/v3\",\"kind\":\"GlobalNetworkPolicy\",\"metadata\":{\"annotations\":{},\"name\":\"allow-dns\"},\"spec\":{\"selector\":\"all()\"}}\n";
        let v = json!({"apiVersion": "projectcalico.org/v3", "kind": "GlobalNetworkPolicyList",
          "metadata": {"resourceVersion": "421"},
          "items": [{"apiVersion": "projectcalico.org/v3", "kind": "GlobalNetworkPolicy",
            "metadata": {"name": "default.allow-dns", "creationTimestamp": null,
              "annotations": {"kubectl.kubernetes.io/last-applied-configuration": lac,
                "projectcalico.org/metadata": "{\"name\":\"allow-dns\"}"},
              "labels": {"projectcalico.org/tier": "default"}},
            "spec": {"tier": "default", "order": 100.5,
              "selector": "projectcalico.org/namespace == 'kube-system' && !has(skip)",
              "types": ["Ingress", "Egress"],
              "ingress": [{"action": "Allow", "protocol": "UDP",
                  "source": {"nets": ["10.0.0.0/8"], "notNets": ["10.1.0.0/16"]},
                  "destination": {"ports": [53, "1000:2000", "dns"], "selector": "k8s-app == \"kube-dns\""}},
                {"action": "Allow", "protocol": "ICMP", "icmp": {"type": 8, "code": 0}}],
              "egress": [{"action": "Deny", "destination": {"nets": ["0.0.0.0/0"]},
                "metadata": {"annotations": {"note": "deny all: default"}}}],
              "description": "This is a long description that goes on and on: it has colons, 'quotes', \"double quotes\", and # hashes, so that it needs quoting and folding across lines at column eighty.",
              "doNotTrack": false, "applyOnForward": true, "preDNAT": false}}]});
        let expected = r#"apiVersion: projectcalico.org/v3
items:
- apiVersion: projectcalico.org/v3
  kind: GlobalNetworkPolicy
  metadata:
    annotations:
      kubectl.kubernetes.io/last-applied-configuration: |
        {"apiVersion":"projectcalico.org/v3","kind":"GlobalNetworkPolicy","metadata":{"annotations":{},"name":"allow-dns"},"spec":{"selector":"all()"}}
      projectcalico.org/metadata: '{"name":"allow-dns"}'
    creationTimestamp: null
    labels:
      projectcalico.org/tier: default
    name: default.allow-dns
  spec:
    applyOnForward: true
    description: 'This is a long description that goes on and on: it has colons, ''quotes'',
      "double quotes", and # hashes, so that it needs quoting and folding across lines
      at column eighty.'
    doNotTrack: false
    egress:
    - action: Deny
      destination:
        nets:
        - 0.0.0.0/0
      metadata:
        annotations:
          note: 'deny all: default'
    ingress:
    - action: Allow
      destination:
        ports:
        - 53
        - 1000:2000
        - dns
        selector: k8s-app == "kube-dns"
      protocol: UDP
      source:
        nets:
        - 10.0.0.0/8
        notNets:
        - 10.1.0.0/16
    - action: Allow
      icmp:
        code: 0
        type: 8
      protocol: ICMP
    order: 100.5
    preDNAT: false
    selector: projectcalico.org/namespace == 'kube-system' && !has(skip)
    tier: default
    types:
    - Ingress
    - Egress
kind: GlobalNetworkPolicyList
metadata:
  resourceVersion: "421"
"#;
        assert_eq!(to_yaml(&v), expected);
        assert_eq!(from_yaml(expected).unwrap(), v);
    }

    #[test]
    fn empty_list_items() {
        let v = json!({"apiVersion": "projectcalico.org/v3", "items": [], "kind": "BGPPeerList",
            "metadata": {"resourceVersion": "99"}});
        assert_eq!(
            y(v),
            "apiVersion: projectcalico.org/v3\nitems: []\nkind: BGPPeerList\nmetadata:\n  resourceVersion: \"99\"\n"
        );
        assert_eq!(y(json!({"items": null})), "items: null\n");
    }

    // ----- structure --------------------------------------------------------

    #[test]
    fn roots_and_empty_collections() {
        assert_eq!(y(json!({})), "{}\n");
        assert_eq!(y(json!([])), "[]\n");
        assert_eq!(y(json!(null)), "null\n");
        assert_eq!(y(json!(true)), "true\n");
        assert_eq!(y(json!(5)), "5\n");
        assert_eq!(y(json!("abc")), "abc\n");
        assert_eq!(y(json!("")), "\"\"\n");
        assert_eq!(y(json!([1, "a", null])), "- 1\n- a\n- null\n");
        assert_eq!(
            y(json!({"a": {}, "b": [], "c": [{}, []]})),
            "a: {}\nb: []\nc:\n- {}\n- []\n"
        );
    }

    #[test]
    fn nested_sequences_and_maps() {
        assert_eq!(y(json!([[1, 2], [3]])), "- - 1\n  - 2\n- - 3\n");
        assert_eq!(
            y(json!({"a": [{"x": 1, "v": [1, 2]}, {"z": {"w": 1}}]})),
            "a:\n- v:\n  - 1\n  - 2\n  x: 1\n- z:\n    w: 1\n"
        );
        // "y" and "n" are YAML 1.1 booleans: quoted even as keys.
        assert_eq!(
            y(json!({"y": 1, "n": 2, "x": 3})),
            "\"n\": 2\nx: 3\n\"y\": 1\n"
        );
        assert_eq!(y(json!({"a": {"b": {"c": "d"}}})), "a:\n  b:\n    c: d\n");
        assert_eq!(y(json!([{"a": [[1]]}])), "- a:\n  - - 1\n");
    }

    #[test]
    fn key_order_is_go_yaml_v2() {
        let v = json!({"b": 0, "a10": 0, "a2": 0, "a1": 0, "A": 0, "_x": 0, "1": 0, "10": 0,
            "9": 0, "a-b": 0, "a_b": 0, "aB": 0, "ab": 0});
        assert_eq!(
            y(v),
            "_x: 0\n\"1\": 0\n\"9\": 0\n\"10\": 0\nA: 0\na-b: 0\na_b: 0\na1: 0\na2: 0\na10: 0\naB: 0\nab: 0\nb: 0\n"
        );
        // Numeric runs after a non-zero digit prefix ("x1|00" vs "x1|5").
        assert_eq!(
            y(json!({"x100": 0, "x15": 0, "x2": 0})),
            "x2: 0\nx15: 0\nx100: 0\n"
        );
        // Leading zeros: the shorter run first when the values are equal.
        assert_eq!(
            y(json!({"a01": 0, "a1": 0, "a001": 0})),
            "a1: 0\na01: 0\na001: 0\n"
        );
        // Prefixes sort first; letters after everything else.
        assert_eq!(
            y(json!({"ab": 0, "a": 0, "a.b": 0, "a/b": 0})),
            "a: 0\na.b: 0\na/b: 0\nab: 0\n"
        );
        // Typical Kubernetes keys.
        assert_eq!(
            y(
                json!({"projectcalico.org/tier": "default", "app": "x", "app.kubernetes.io/name": "y",
                "App": "z"})
            ),
            "App: z\napp: x\napp.kubernetes.io/name: \"y\"\nprojectcalico.org/tier: default\n"
        );
    }

    #[test]
    fn key_less_basics() {
        let l = |a: &str, b: &str| {
            key_less(
                &a.chars().collect::<Vec<_>>(),
                &b.chars().collect::<Vec<_>>(),
            )
        };
        assert!(l("a", "b"));
        assert!(!l("b", "a"));
        assert!(l("A", "a"));
        assert!(l("1", "a"));
        assert!(l("-", "1"));
        assert!(l("a", "aa"));
        assert!(l("a9", "a10"));
        assert!(!l("a10", "a9"));
        assert!(!l("x", "x"));
    }

    // ----- scalar styles ----------------------------------------------------

    #[test]
    fn strings_that_resolve_to_other_types_are_double_quoted() {
        for s in [
            "123",
            "-1",
            "+1",
            "0",
            "1.5",
            "1e3",
            "1E3",
            "0x1f",
            "0X1F",
            "0o17",
            "017",
            "08",
            "1_000",
            ".5",
            "-.5",
            "1.",
            "0b101",
            "-0b101",
            "true",
            "false",
            "True",
            "TRUE",
            "yes",
            "Yes",
            "YES",
            "no",
            "No",
            "NO",
            "on",
            "On",
            "ON",
            "off",
            "Off",
            "OFF",
            "y",
            "Y",
            "n",
            "N",
            "null",
            "Null",
            "NULL",
            "~",
            ".inf",
            ".Inf",
            ".INF",
            "+.inf",
            "-.inf",
            ".nan",
            ".NaN",
            ".NAN",
            "1:20",
            "190:20:30",
            "-1:20.5",
            "1:2:3.5",
            "2024-05-01",
            "2024-5-1",
            "2024-05-01T10:00:00Z",
            "2024-05-01t10:00:00Z",
            "2024-05-01T10:00:00.123456789+02:00",
            "2001-12-14 21:59:43.10",
            "2024-02-29",
            "1234",
            "1__",
            "1_2.5_",
            "99999999999999999999",
            "0xFFFFFFFFFFFFFFFFFF",
            "1e400x".trim_end_matches('x'),
        ] {
            if s == "1e400" {
                continue;
            }
            assert_eq!(kv(s), format!("k: \"{s}\"\n"), "for {s:?}");
        }
    }

    #[test]
    fn strings_that_stay_strings_are_plain() {
        for s in [
            "abc",
            "yES",
            "nO",
            "tRUE",
            "nulL",
            "a:1",
            "a:b",
            "a#b",
            "a,b",
            "a?b",
            "a]b",
            "-a",
            "?x",
            ":x",
            "1e400",
            ".5e999",
            ".",
            "..",
            "1.2.3",
            "1-2",
            "2024-13-01",
            "2023-02-29",
            "2024-05-01T25:00:00Z",
            "2024-05-01 ",
            "0x",
            "0xg",
            "_1",
            "1:60",
            "1:2:3x",
            "1:234",
            "+",
            "-.5.5",
            "<<",
            "=",
            "10.65.0.0/16",
            "all()",
            "has(projectcalico.org/tier)",
            "a b c",
            "é",
            "日本語",
            "\u{a0}",
            "x\u{2028}",
            "a'b",
            "a\"b",
            "100%",
            "a@b",
            "a`b",
            "http://example.com/a?b=c#d",
            "-0x",
            "9223372036854775808z",
        ] {
            let out = kv(s);
            if s == "x\u{2028}" {
                // A line break: not plain, single-quoted.
                assert_eq!(out, "k: 'x\u{2028}'\n");
                continue;
            }
            if s == "2024-05-01 " {
                assert_eq!(out, "k: '2024-05-01 '\n");
                continue;
            }
            assert_eq!(out, format!("k: {s}\n"), "for {s:?}");
        }
    }

    #[test]
    fn single_quoted_when_analysis_forbids_plain() {
        let cases = [
            ("*", "'*'"),
            ("&a", "'&a'"),
            ("!a", "'!a'"),
            ("|", "'|'"),
            (">", "'>'"),
            ("%a", "'%a'"),
            ("@a", "'@a'"),
            ("`a", "'`a'"),
            ("#a", "'#a'"),
            (",a", "',a'"),
            ("[a]", "'[a]'"),
            ("{a}", "'{a}'"),
            ("]", "']'"),
            ("- a", "'- a'"),
            ("-", "'-'"),
            ("?", "'?'"),
            ("? a", "'? a'"),
            (":", "':'"),
            ("a:", "'a:'"),
            ("1:2:3:", "'1:2:3:'"),
            ("a: b", "'a: b'"),
            ("a #b", "'a #b'"),
            (" a", "' a'"),
            ("a ", "'a '"),
            ("   ", "'   '"),
            ("---", "'---'"),
            ("---a", "'---a'"),
            ("...", "'...'"),
            ("'a'", "'''a'''"),
            ("\"a\"", "'\"a\"'"),
            ("it's: x", "'it''s: x'"),
        ];
        assert_kv(&cases);
        assert_eq!(y(json!(["*"])), "- '*'\n");
    }

    #[test]
    fn double_quoted_with_escapes() {
        let cases = [
            ("a\tb", "\"a\\tb\""),
            ("\r", "\"\\r\""),
            ("a\r\nb", "\"a\\r\\nb\""),
            ("\u{0}", "\"\\0\""),
            ("\u{7}\u{8}\u{b}\u{c}\u{1b}", "\"\\a\\b\\v\\f\\e\""),
            ("\u{1}", "\"\\x01\""),
            ("\u{7f}", "\"\\x7F\""),
            ("\u{9f}", "\"\\x9F\""),
            ("a\"b\\\t", "\"a\\\"b\\\\\\t\""),
            ("😀", "\"\\U0001F600\""),
            ("x😀 y", "\"x\\U0001F600 y\""),
            ("\u{fffe}", "\"\\uFFFE\""),
            ("\u{feff}", "\"\\uFEFF\""),
            // A leading BOM makes go-yaml escape every character.
            ("\u{feff}a b", "\"\\uFEFF\\x61\\x20\\x62\""),
            ("a\u{feff}b", "\"a\\uFEFFb\""),
            ("\t\u{2028}", "\"\\t\\L\""),
        ];
        assert_kv(&cases);
    }

    #[test]
    fn nel_is_folded_on_the_way_through_json() {
        // json.Marshal leaves U+0085 raw; go-yaml reads it as a line break.
        assert_eq!(kv("\u{85}"), "k: ' '\n");
        assert_eq!(kv("a\u{85}b"), "k: a b\n");
        assert_eq!(kv("a  \u{85}  b"), "k: a b\n");
        assert_eq!(kv("a\u{85}\u{85}b"), "k: |-\n  a\n  b\n");
        assert_eq!(kv("a\u{85} \u{85}\u{85}b "), "k: \"a\\n\\nb \"\n");
        assert_eq!(y(json!({"x\u{85}y": 1})), "x y: 1\n");
    }

    #[test]
    fn literal_block_scalars() {
        let cases = [
            ("a\nb", "|-\n  a\n  b"),
            ("a\nb\n", "|\n  a\n  b"),
            ("a\nb\n\n", "|+\n  a\n  b\n"),
            ("\n", "|2+\n"),
            ("\n\n", "|2+\n\n"),
            ("\na", "|2-\n\n  a"),
            (" a\nb", "|2-\n   a\n  b"),
            ("a\n b", "|-\n  a\n   b"),
            ("a\n\nb", "|-\n  a\n\n  b"),
            (
                "# not a comment\n- x: y\n",
                "|\n  # not a comment\n  - x: y",
            ),
            ("a\nb\u{2028}c", "|-\n  a\n  b\u{2028}  c"),
            // Trailing space, space before a break, tab: double-quoted instead.
            ("a\nb ", "\"a\\nb \""),
            ("a \nb", "\"a \\nb\""),
            ("a\n\tb", "\"a\\n\\tb\""),
        ];
        assert_kv(&cases);
        // In sequences, at the root, nested.
        let cases = [
            (json!(["a\n", "b\nc"]), "- |\n  a\n- |-\n  b\n  c\n"),
            (json!("a\nb"), "|-\n  a\n  b\n"),
            (json!("a\n"), "|\n  a\n"),
            (json!({"a": {"b": "x\ny"}}), "a:\n  b: |-\n    x\n    y\n"),
            (json!({"a": [" x\ny"]}), "a:\n- |2-\n   x\n  y\n"),
            (json!({"a": "x\n", "b": 1}), "a: |\n  x\nb: 1\n"),
        ];
        for (v, want) in cases {
            assert_eq!(y(v.clone()), want, "for {v}");
        }
    }

    #[test]
    fn complex_keys() {
        assert_eq!(y(json!({"a\nb": 1})), "? |-\n  a\n  b\n: 1\n");
        let long = "k".repeat(129);
        assert_eq!(y(json!({ long.clone(): 1 })), format!("? {long}\n: 1\n"));
        let ok = "k".repeat(128);
        assert_eq!(y(json!({ ok.clone(): 1 })), format!("{ok}: 1\n"));
        assert_eq!(
            y(json!({ long.clone(): {"a": 1, "b": [1, 2]} })),
            format!("? {long}\n: a: 1\n  b:\n  - 1\n  - 2\n")
        );
        assert_eq!(
            y(json!({ long.clone(): [1, 2] })),
            format!("? {long}\n: - 1\n  - 2\n")
        );
        assert_eq!(
            y(json!({ long.clone(): {} })),
            format!("? {long}\n: {{}}\n")
        );
        // Multi-line key that cannot be literal: double-quoted, not simple.
        assert_eq!(y(json!({"a \nb": 1})), "? \"a \\nb\"\n: 1\n");
        // Special keys.
        assert_eq!(
            y(json!({"": 1, "null": 2, "a: b": 3})),
            "\"\": 1\n'a: b': 3\n\"null\": 2\n"
        );
        for v in [
            json!({ long.clone(): [1, 2] }),
            json!({"a\nb": {"c": "d"}}),
            json!({"a \nb": 1}),
        ] {
            assert_eq!(from_yaml(&to_yaml(&v)).unwrap(), v);
        }
    }

    // ----- folding ----------------------------------------------------------

    const APIVERSION_DESC: &str = "APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources";
    const KIND_DESC: &str = "Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds";

    /// A CRD as controller-gen (sigs.k8s.io/yaml, go-yaml v2) wrote it: the
    /// folded single-quoted and plain descriptions are copied from published
    /// CRD manifests.
    #[test]
    fn folds_like_controller_gen_crds() {
        let crd = json!({
            "spec": {"versions": [{
                "name": "v1beta1",
                "schema": {"openAPIV3Schema": {
                    "description": "LoggingConfiguration is the Schema for the loggingconfigurations API",
                    "properties": {
                        "apiVersion": {"description": APIVERSION_DESC, "type": "string"},
                        "kind": {"description": KIND_DESC, "type": "string"}
                    }
                }}
            }]}
        });
        let expected = "\
spec:
  versions:
  - name: v1beta1
    schema:
      openAPIV3Schema:
        description: LoggingConfiguration is the Schema for the loggingconfigurations
          API
        properties:
          apiVersion:
            description: 'APIVersion defines the versioned schema of this representation
              of an object. Servers should convert recognized schemas to the latest
              internal value, and may reject unrecognized values. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources'
            type: string
          kind:
            description: 'Kind is a string value representing the REST resource this
              object represents. Servers may infer this from the endpoint the client
              submits requests to. Cannot be updated. In CamelCase. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds'
            type: string
";
        assert_eq!(to_yaml(&crd), expected);
        assert_eq!(from_yaml(expected).unwrap(), crd);

        // The same text two levels up (a v1beta1 CRD's spec.validation).
        let v1beta1 = json!({"spec": {"validation": {"openAPIV3Schema": {"properties": {
            "apiVersion": {"description": APIVERSION_DESC, "type": "string"}}}}}});
        let expected = "\
spec:
  validation:
    openAPIV3Schema:
      properties:
        apiVersion:
          description: 'APIVersion defines the versioned schema of this representation
            of an object. Servers should convert recognized schemas to the latest
            internal value, and may reject unrecognized values. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources'
          type: string
";
        assert_eq!(to_yaml(&v1beta1), expected);
    }

    #[test]
    fn folds_plain_and_double_quoted() {
        let words: Vec<String> = "abcdefghij"
            .chars()
            .map(|c| c.to_string().repeat(9))
            .collect();
        let text = words.join(" ");
        // Where the fold falls: after the 8th word.
        let (head, tail) = (words[..8].join(" "), words[8..].join(" "));
        // Plain: "k: " is 3 columns, the 8th word ends at column 82.
        assert_eq!(kv(&text), format!("k: {}\n  {}\n", head, tail));
        // Double-quoted (a tab forces it); `\t` takes two columns.
        let dq = format!("\t{text}");
        assert_eq!(kv(&dq), format!("k: \"\\t{}\n  {}\"\n", head, tail));
        // Two spaces at the fold: the second is escaped on the next line.
        let dq2 = format!("\t{}  {}", head, tail);
        assert_eq!(kv(&dq2), format!("k: \"\\t{}\n  \\ {}\"\n", head, tail));
        // A run of spaces is never folded; the next single space is.
        let spaced = format!("{}  {}", head, tail);
        assert_eq!(
            kv(&spaced),
            format!("k: {}  {}\n  {}\n", head, words[8], words[9])
        );
        // Keys are never folded.
        let key = words.join(" ");
        assert_eq!(y(json!({ key.clone(): 1 })), format!("{key}: 1\n"));
        // Sequence items and the root fold at their own indentation.
        assert_eq!(
            y(json!([text.clone()])),
            format!("- {}\n  {}\n", head, tail)
        );
        let long: String = (0..12).map(|_| "abcdefghi").collect::<Vec<_>>().join(" ");
        let ws: Vec<&str> = long.split(' ').collect();
        assert_eq!(
            y(json!(long.clone())),
            format!("{}\n  {}\n", ws[..9].join(" "), ws[9..].join(" "))
        );
        for v in [
            json!({"k": text}),
            json!({"k": dq}),
            json!({"k": dq2}),
            json!([long]),
        ] {
            assert_eq!(from_yaml(&to_yaml(&v)).unwrap(), v);
        }
    }

    #[test]
    fn single_quoted_multiline_with_unicode_breaks() {
        assert_eq!(kv("a\u{2028}b"), "k: 'a\u{2028}  b'\n");
        // go-yaml reads LS as a line break and drops the indentation after
        // it; YAML 1.2 (granit-parser) reads it as content, and the
        // indentation stays.
        assert_eq!(
            from_yaml("k: 'a\u{2028}  b'\n").unwrap(),
            json!({"k": "a\u{2028}  b"})
        );
        assert_eq!(from_yaml("'a\u{2028}b'\n").unwrap(), json!("a\u{2028}b"));
    }

    // ----- numbers ----------------------------------------------------------

    #[test]
    fn numbers_go_through_go_json_and_go_yaml() {
        let v = json!({
            "a": 0.5, "b": 1e-7, "c": 1e21, "d": 1.5e300, "e": 123456789.5, "f": 1e20, "g": 2.0,
            "h": -0.0, "i": 1e19, "j": 100000.5, "k": 1234567.5, "l": 0.0001, "m": 0.00001,
            "n": u64::MAX, "o": i64::MIN, "p": -1.5, "q": 5e-324, "r": 1.7976931348623157e308,
            "s": 0.1, "t": 9007199254740993u64, "u": -(2f64.powi(63)),
            "v": -205_862_734_785_765.0 - 0.125
        });
        assert_eq!(
            y(v),
            "a: 0.5\nb: 1e-07\nc: 1e+21\nd: 1.5e+300\ne: 1.234567895e+08\nf: 1e+20\ng: 2\nh: 0\n\
             i: 10000000000000000000\nj: 100000.5\nk: 1.2345675e+06\nl: 0.0001\nm: 1e-05\n\
             \"n\": 18446744073709551615\no: -9223372036854775808\np: -1.5\nq: 5e-324\n\
             r: 1.7976931348623157e+308\ns: 0.1\nt: 9007199254740993\nu: -9.223372036854776e+18\n\
             v: -2.0586273478576512e+14\n"
        );
    }

    // ----- reading ----------------------------------------------------------

    #[test]
    fn reads_yaml_1_1_scalars_like_go_yaml_v2() {
        let doc = "\
int: 123
neg: -5
hex: 0x1F
oct: 0o17
octal: 017
under: 1_000
big: 18446744073709551615
huge: 100000000000000000000
float: 1.5
exp: 1e+06
dot: .5
t: true
yes: yes
On: on
n: n
nul: null
tilde: ~
empty:
ts: 2024-05-01T10:00:00Z
str: hello world
quoted: \"123\"
single: 'true'
base60: 1:20
";
        let v = from_yaml(doc).unwrap();
        assert_eq!(
            v,
            json!({
                "int": 123, "neg": -5, "hex": 31, "oct": 15, "octal": 15, "under": 1000,
                "big": u64::MAX, "huge": 1e20, "float": 1.5, "exp": 1e6, "dot": 0.5, "t": true,
                "true": true, "false": false, "nul": null, "tilde": null, "empty": null,
                "ts": "2024-05-01T10:00:00Z", "str": "hello world", "quoted": "123", "single": "true",
                "base60": "1:20"
            })
        );
        // `yes` and `On` as keys are booleans too, and become "true".
        let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
        assert!(keys.contains(&&"true".to_string()));
    }

    #[test]
    fn reads_non_string_keys_like_sigs_yaml() {
        assert_eq!(
            from_yaml("1: a\n1.5: b\ntrue: c\n0.1: d\n").unwrap(),
            json!({"1": "a", "1.5": "b", "true": "c", "0.1": "d"})
        );
        assert!(from_yaml("~: a\n").is_err());
        assert!(from_yaml("[a]: b\n").is_err());
        assert!(from_yaml("18446744073709551615: a\n").is_err());
        assert!(from_yaml("a: .nan\n").is_err());
    }

    #[test]
    fn reads_realistic_kubectl_yaml() {
        let doc = "\
# exported by hand
---
apiVersion: projectcalico.org/v3   # trailing comment
kind: GlobalNetworkPolicy
metadata:
  name: allow-ping
  labels: {app: \"web\", tier: frontend}
  annotations:
    note: >
      folded text
      continues here

      new paragraph
    script: |
      #!/bin/sh
      echo hi
spec:
  selector: all()
  types:
    - Ingress
    - Egress
  ingress:
    - action: Allow
      protocol: ICMP
      source:
        nets: [10.0.0.0/8, \"192.168.0.0/16\"]
      icmp: {type: 8}
  egress:
  - action: Allow
    destination:
      ports:
      - 80
      - '443'
  order: 100.5
  description: a long plain
    scalar that continues
    over lines
  quoted: \"first line
    second line\\
    joined\"
  single: 'it''s
    folded'
";
        let v = from_yaml(doc).unwrap();
        assert_eq!(
            v,
            json!({
                "apiVersion": "projectcalico.org/v3",
                "kind": "GlobalNetworkPolicy",
                "metadata": {
                    "name": "allow-ping",
                    "labels": {"app": "web", "tier": "frontend"},
                    "annotations": {
                        "note": "folded text continues here\nnew paragraph\n",
                        "script": "#!/bin/sh\necho hi\n"
                    }
                },
                "spec": {
                    "selector": "all()",
                    "types": ["Ingress", "Egress"],
                    "ingress": [{
                        "action": "Allow", "protocol": "ICMP",
                        "source": {"nets": ["10.0.0.0/8", "192.168.0.0/16"]},
                        "icmp": {"type": 8}
                    }],
                    "egress": [{"action": "Allow", "destination": {"ports": [80, "443"]}}],
                    "order": 100.5,
                    "description": "a long plain scalar that continues over lines",
                    "quoted": "first line second linejoined",
                    "single": "it's folded"
                }
            })
        );
    }

    #[test]
    fn reads_json_and_flow_styles() {
        let v = from_yaml("{\"a\":1,\"b\":[1,2.5,null,true,\"x\"],\"c\":{},\"d\":[]}").unwrap();
        assert_eq!(
            v,
            json!({"a": 1, "b": [1, 2.5, null, true, "x"], "c": {}, "d": []})
        );
        assert_reads(&[
            (
                "[a, b: c, {d: e}, [f]]",
                json!(["a", {"b": "c"}, {"d": "e"}, ["f"]]),
            ),
            ("{a, b: , c: d}\n", json!({"a": null, "b": null, "c": "d"})),
            // `\/` is a YAML 1.2 escape (go-yaml v2 refuses it).
            ("{\"a\": \"\\u003c\\u2028\\/\"}", json!({"a": "<\u{2028}/"})),
            ("{\"a\": \"\\u003c\\u2028\"}", json!({"a": "<\u{2028}"})),
            ("k: [\n  1,\n  2, # two\n]\n", json!({"k": [1, 2]})),
        ]);
    }

    #[test]
    fn reads_block_scalar_variants() {
        assert_reads(&[
            ("k: |\n  a\n  b\n", json!({"k": "a\nb\n"})),
            ("k: |-\n  a\n\n  b\n\n", json!({"k": "a\n\nb"})),
            ("k: |+\n  a\n\n\nm: 1", json!({"k": "a\n\n\n", "m": 1})),
            ("k: |2-\n   a\n  b\n", json!({"k": " a\nb"})),
            (
                "k: >-\n  a\n  b\n\n  c\n   d\n  e\n",
                json!({"k": "a b\nc\n d\ne"}),
            ),
            ("k: |\nm: 1\n", json!({"k": "", "m": 1})),
            ("- |\n  x\n- >\n  y\n", json!(["x\n", "y\n"])),
            ("k: | # comment\n  x\n", json!({"k": "x\n"})),
            ("|\n a\n", json!("a\n")),
            ("k: |\r\n  a\r\n  b\r\n", json!({"k": "a\nb\n"})),
        ]);
    }

    #[test]
    fn reads_anchors_tags_and_documents() {
        assert_reads(&[
            (
                "a: &x {b: 1}\nc: *x\nd: &y 5\ne: *y\n",
                json!({"a": {"b": 1}, "c": {"b": 1}, "d": 5, "e": 5}),
            ),
            (
                "a: !!str 123\nb: !!int \"7\"\nc: !!float 1\nd: !custom x\ne: !!binary aGVsbG8=\nf: !!str\n",
                json!({"a": "123", "b": 7, "c": 1.0, "d": "x", "e": "hello", "f": ""}),
            ),
        ]);
        assert!(from_yaml("a: !!int x\n").is_err());
        assert_reads(&[
            ("", Value::Null),
            ("# only a comment\n", Value::Null),
            ("---\na: 1\n...\n", json!({"a": 1})),
            ("a: 1\n---\n", json!({"a": 1})),
            ("--- text\n", json!("text")),
        ]);
        assert!(from_yaml("a: 1\n---\nb: 2\n").is_err());
        assert_reads(&[
            ("\u{feff}a: 1", json!({"a": 1})),
            (
                "- a\n-\n- - b\n  - c\n- d: e\n  f: g\n",
                json!(["a", null, ["b", "c"], {"d": "e", "f": "g"}]),
            ),
            ("? a\n: b\n? c\n", json!({"a": "b", "c": null})),
            // Duplicate keys: the last one wins (go-yaml v2, not strict).
            ("a: 1\na: 2\n", json!({"a": 2})),
        ]);
    }

    #[test]
    fn reads_document_streams() {
        let ippools = json!({"apiVersion": "projectcalico.org/v3", "items": [], "kind": "IPPoolList",
            "metadata": {"resourceVersion": "7"}});
        let peers = json!({"apiVersion": "projectcalico.org/v3", "items": [{"kind": "BGPPeer"}],
            "kind": "BGPPeerList", "metadata": {"resourceVersion": "7"}});
        let stream = format!("{}---\n{}---\n", to_yaml(&ippools), to_yaml(&peers));
        assert_eq!(from_yaml_documents(&stream).unwrap(), vec![ippools, peers]);
        assert_eq!(from_yaml_documents("").unwrap(), Vec::<Value>::new());
        assert_eq!(
            from_yaml_documents("---\n---\n# x\n...\n").unwrap(),
            Vec::<Value>::new()
        );
        assert_eq!(
            from_yaml_documents("--- a\n--- b\n...\n---\n- c\n").unwrap(),
            vec![json!("a"), json!("b"), json!(["c"])]
        );
        assert_eq!(
            from_yaml_documents("---\nnull\n").unwrap(),
            vec![Value::Null]
        );
        assert!(from_yaml("a: 1\n---\nb: 2\n").is_err());
    }

    #[test]
    fn limits_nesting_and_alias_expansion() {
        let deep_ok = format!("{}1{}", "[".repeat(190), "]".repeat(190));
        assert!(from_yaml(&deep_ok).is_ok());
        let deep_block: String = (0..150)
            .map(|i| format!("{}k:\n", "  ".repeat(i)))
            .collect();
        assert!(from_yaml(&deep_block).is_ok());
        let too_deep = format!("{}1{}", "[".repeat(300), "]".repeat(300));
        assert!(from_yaml(&too_deep).unwrap_err().message.contains("depth"));
        let mut laughs = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 0..8 {
            let prev = (b'a' + i) as char;
            let next = (b'a' + i + 1) as char;
            laughs.push_str(&format!("{next}: &{next} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"));
        }
        assert!(from_yaml(&laughs).unwrap_err().message.contains("aliasing"));
    }

    #[test]
    fn merge_keys_are_plain_keys() {
        // go-yaml writes a "<<" key plain; reading it back as a merge would
        // lose it, so it stays an ordinary key.
        assert_eq!(y(json!({"<<": "x"})), "<<: x\n");
        assert_eq!(from_yaml("<<: x\n").unwrap(), json!({"<<": "x"}));
    }

    #[test]
    fn reads_yaml_1_2_syntax() {
        // A repeated key keeps its first position and its last value.
        let v = from_yaml("a: 1\nb: 2\na: 3\n").unwrap();
        let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["a", "b"]);
        assert_eq!(v, json!({"a": 3, "b": 2}));
        // NEL, LS and PS are content, not line breaks.
        assert_eq!(
            from_yaml("a: \"x\u{85}y\"\nb: p\u{2029}q\n").unwrap(),
            json!({"a": "x\u{85}y", "b": "p\u{2029}q"})
        );
        assert!(from_yaml("a: 1\u{85}b: 2\n").is_err());
        // Tabs as separators after `:` and `-`.
        assert_eq!(
            from_yaml("a:\tb\nc:\n-\td\n").unwrap(),
            json!({"a": "b", "c": ["d"]})
        );
        // Tagged empty nodes; the non-specific tag keeps the text.
        assert_eq!(
            from_yaml("a: !!str\nb: !!null\nc: ! 12\nd: !<tag:yaml.org,2002:int> '7'\n").unwrap(),
            json!({"a": "", "b": null, "c": "12", "d": 7})
        );
        assert!(from_yaml("a: !!map [1]\n").is_err());
        assert!(from_yaml("a: !!seq {}\n").is_err());
        // Anchors belong to their document; an alias inside its own anchor's
        // node is an error.
        let e = from_yaml_documents("a: &x 1\n---\nb: *x\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "yaml: line 3, column 4: unknown anchor 'x' referenced"
        );
        let e = from_yaml("[é, *nope]").unwrap_err();
        assert_eq!(e.message, "unknown anchor 'nope' referenced");
        let e = from_yaml("a: &x [1, *x]\n").unwrap_err();
        assert_eq!((e.line, e.column), (1, 11), "{e}");
        assert!(e.message.contains("anchor 'x'"), "{e}");
        // An unclosed bracket is reported where it opens.
        let e = from_yaml("k:\n  v: [1, 2\n").unwrap_err();
        assert_eq!((e.line, e.column), (2, 6), "{e}");
        let e = from_yaml("a:\n\t- b\n").unwrap_err();
        assert!(e.message.contains("found a tab character"), "{e}");
        let e = from_yaml("- a: b\n\n \t\n\tc: d\n").unwrap_err();
        assert!(e.message.contains("found a tab character"), "{e}");
        assert_eq!((e.line, e.column), (4, 1), "{e}");
        let e = from_yaml("a: \"open\n  more\n").unwrap_err();
        assert!(
            e.message.starts_with("while scanning a quoted scalar"),
            "{e}"
        );
    }

    #[test]
    fn rejects_malformed_yaml() {
        for bad in [
            "a: b: c\n",
            "a: 1\n  b: 2\n",
            "a: - b\n",
            "a:\n\t- b\n",
            "'unterminated\n",
            "\"bad \\q escape\"\n",
            "[a, b\n",
            "{a: 1\n",
            "a: *nope\n",
            "- a\nb: 1\n",
            "a: 1\n- b\n",
            "a\u{1}: 1\n",
            "k: |0\n  a\n",
        ] {
            assert!(from_yaml(bad).is_err(), "accepted {bad:?}");
        }
        let e = from_yaml("a: 1\nb: c: d\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.to_string().starts_with("yaml: line 2"));
    }

    // ----- round trips ------------------------------------------------------

    /// What Go would read back: floats that Go's JSON writes as integers come
    /// back as integers.
    fn go_normalize(v: &Value) -> Value {
        match v {
            Value::Number(n) if n.is_f64() => match resolve_plain(&gojson::format_number(n)) {
                Resolved::Int(i) => Value::from(i),
                Resolved::Uint(u) => Value::from(u),
                _ => v.clone(),
            },
            Value::String(s) => Value::String(through_json(s).into_owned()),
            Value::Array(a) => Value::Array(a.iter().map(go_normalize).collect()),
            Value::Object(m) => Value::Object(
                m.iter()
                    .map(|(k, v)| (through_json(k).into_owned(), go_normalize(v)))
                    .collect(),
            ),
            _ => v.clone(),
        }
    }

    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            // xorshift64*
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
        fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
            &items[self.below(items.len())]
        }
    }

    const PIECES: &[&str] = &[
        "a",
        "Z",
        "0",
        "1",
        "42",
        "-",
        "_",
        ".",
        "/",
        ":",
        ": ",
        " ",
        "  ",
        "#",
        " #",
        "'",
        "\"",
        "\\",
        "\n",
        "\n\n",
        "\r",
        "\t",
        ",",
        "[",
        "]",
        "{",
        "}",
        "?",
        "*",
        "&",
        "!",
        "|",
        ">",
        "%",
        "@",
        "`",
        "~",
        "yes",
        "no",
        "on",
        "off",
        "y",
        "n",
        "true",
        "False",
        "null",
        "NULL",
        "1e3",
        "0x1f",
        "1_000",
        ".5",
        "1:20",
        "2024-05-01",
        "T10:00:00Z",
        "---",
        "...",
        "é",
        "日本",
        "😀",
        "\u{85}",
        "\u{a0}",
        "\u{2028}",
        "\u{2029}",
        "\u{feff}",
        "\u{7f}",
        "\u{1}",
        "\u{0}",
        "word",
        "projectcalico.org/v3",
        "<",
        ">",
        "&",
    ];

    fn random_string(rng: &mut Rng) -> String {
        match rng.below(10) {
            0 => String::new(),
            1 => {
                // Long text with spaces, to exercise folding.
                let n = 5 + rng.below(40);
                (0..n)
                    .map(|_| {
                        let w = rng.below(14) + 1;
                        let mut s = "x".repeat(w);
                        if rng.below(6) == 0 {
                            s.push_str(rng.pick::<&str>(PIECES));
                        }
                        s
                    })
                    .collect::<Vec<_>>()
                    .join(if rng.below(8) == 0 { "  " } else { " " })
            }
            2 => rng.pick(PIECES).to_string(),
            _ => {
                let n = rng.below(8) + 1;
                (0..n).map(|_| *rng.pick(PIECES)).collect()
            }
        }
    }

    fn random_number(rng: &mut Rng) -> Value {
        match rng.below(8) {
            0 => json!(rng.next()),
            1 => json!(rng.next() as i64),
            2 => json!(*rng.pick(&[0u64, 1, u64::MAX, i64::MAX as u64, 1 << 63])),
            3 => json!(*rng.pick(&[i64::MIN, -1, -42])),
            4 => {
                let f = f64::from_bits(rng.next());
                if f.is_finite() { json!(f) } else { json!(0.25) }
            }
            5 => json!(*rng.pick(&[
                0.5, -0.0, 1e-7, 1e21, 1e20, 1e19, 123.456, 1.5e-300, 2.0, 1e300, 0.1
            ])),
            6 => json!((rng.next() % 2_000_000) as f64 / 64.0 - 15_000.0),
            _ => json!((rng.next() as i64 % 1000) as f64 * 10f64.powi(rng.below(60) as i32 - 30)),
        }
    }

    fn random_value(rng: &mut Rng, depth: usize) -> Value {
        let kind = if depth == 0 {
            rng.below(5)
        } else {
            rng.below(8)
        };
        match kind {
            0 => Value::Null,
            1 => Value::Bool(rng.below(2) == 0),
            2 => random_number(rng),
            3 | 4 => Value::String(random_string(rng)),
            5 => Value::Array(
                (0..rng.below(4))
                    .map(|_| random_value(rng, depth - 1))
                    .collect(),
            ),
            _ => {
                let mut m = Map::new();
                for _ in 0..rng.below(5) {
                    let key = if rng.below(6) == 0 {
                        "k".repeat(120 + rng.below(20))
                    } else {
                        random_string(rng)
                    };
                    m.insert(key, random_value(rng, depth - 1));
                }
                Value::Object(m)
            }
        }
    }

    /// go-yaml's emitter writes LS and PS raw, as line breaks, and indents
    /// the text after them (or, in block scalars, does not indent what it
    /// takes for an empty line); YAML 1.2 (granit-parser) reads them as
    /// ordinary characters, so the indentation becomes part of the string or
    /// a block scalar line is under-indented. Such documents do not
    /// round-trip.
    fn has_raw_unicode_break(text: &str) -> bool {
        text.contains(['\u{2028}', '\u{2029}'])
    }

    #[test]
    fn round_trip_random_values() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        for i in 0..4000 {
            let v = random_value(&mut rng, 4);
            let text = to_yaml(&v);
            if has_raw_unicode_break(&text) {
                let _ = from_yaml(&text);
                continue;
            }
            let back =
                from_yaml(&text).unwrap_or_else(|e| panic!("case {i}: {e}\n{text}\nfrom {v:?}"));
            assert_eq!(back, go_normalize(&v), "case {i}:\n{text}");
            // Writing what was read gives the same text.
            assert_eq!(to_yaml(&back), text, "case {i}");
        }
    }

    #[test]
    fn round_trip_tricky_strings_in_every_position() {
        let mut strings: Vec<String> = PIECES.iter().map(|s| s.to_string()).collect();
        for a in PIECES {
            for b in ["", " ", "x", "\n", " y"] {
                strings.push(format!("{a}{b}"));
                strings.push(format!("{b}{a}"));
            }
        }
        strings.push("x ".repeat(100));
        strings.push(format!("{}\n{}", "a b ".repeat(30), " c".repeat(30)));
        for s in &strings {
            for v in [
                json!(s),
                json!({ s.clone(): s }),
                json!([s, [s], {"k": s}]),
                json!({"a": {"b": [{ s.clone(): [s] }]}}),
            ] {
                let text = to_yaml(&v);
                if has_raw_unicode_break(&text) {
                    let _ = from_yaml(&text);
                    continue;
                }
                let back = from_yaml(&text).unwrap_or_else(|e| panic!("{s:?}: {e}\n{text}"));
                assert_eq!(back, go_normalize(&v), "{s:?}:\n{text}");
            }
        }
    }

    /// Mutated documents must give a value or an error, never a panic.
    #[test]
    fn never_panics_on_mutated_input() {
        let seeds = [
            to_yaml(
                &json!({"a": [1, {"b": "x\ny", "c": " lead"}], "d": "it's: here", "e": [], "f": {}}),
            ),
            "k: |2-\n   a\n  b\n? x\n: - 1\n  - [a, {b: c}]\n'q': \"\\x41\\u00e9 \\\n  z\"\n"
                .to_string(),
            "--- &a !!map\nx: *a\ny: >+\n\n  t\n...\n%YAML 1.1\n---\n- - -\n".to_string(),
        ];
        let alphabet: Vec<char> =
            " \n\t-?:,[]{}#&*!|>'\"%@`.0123456789abcxyz\\\r\u{85}\u{2028}~+e_"
                .chars()
                .collect();
        let mut rng = Rng(0x5EED);
        for i in 0..20_000 {
            let mut doc: Vec<char> = seeds[i % seeds.len()].chars().collect();
            for _ in 0..1 + rng.below(4) {
                let pos = rng.below(doc.len() + 1);
                match rng.below(3) {
                    0 => doc.insert(pos, *rng.pick(&alphabet)),
                    1 if pos < doc.len() => {
                        doc.remove(pos);
                    }
                    _ => doc.truncate(pos),
                }
            }
            let text: String = doc.into_iter().collect();
            let _ = from_yaml(&text);
            let _ = from_yaml_documents(&text);
        }
    }

    #[test]
    fn resolver_details() {
        assert_eq!(resolve_plain("0x"), Resolved::Str);
        assert_eq!(resolve_plain("0b"), Resolved::Str);
        assert_eq!(resolve_plain("0b11"), Resolved::Int(3));
        assert_eq!(resolve_plain("-0b11"), Resolved::Int(-3));
        assert_eq!(
            resolve_plain("9223372036854775808"),
            Resolved::Uint(1 << 63)
        );
        assert_eq!(
            resolve_plain("-9223372036854775809"),
            Resolved::Float(-9223372036854775809.0)
        );
        assert_eq!(resolve_plain("0x1_0"), Resolved::Int(16));
        assert_eq!(resolve_plain(".5_0"), Resolved::Float(0.5));
        assert_eq!(resolve_plain("._5"), Resolved::Str);
        assert_eq!(resolve_plain("1e999"), Resolved::Str);
        assert_eq!(
            resolve_plain("0xFFFFFFFFFFFFFFFFF"),
            Resolved::BigInt(295147905179352825855.0)
        );
        assert_eq!(
            resolve_plain("077777777777777777777777"),
            Resolved::Float("77777777777777777777777".parse().unwrap())
        );
        assert_eq!(resolve_plain("2024-05-01 10:00:00"), Resolved::Timestamp);
        assert_eq!(resolve_plain("2024-05-01  10:00:00"), Resolved::Timestamp);
        assert_eq!(resolve_plain("2024-05-01T10:00:00"), Resolved::Str);
        assert_eq!(resolve_plain("2024-05-01T10:00:00+0200"), Resolved::Str);
        assert_eq!(resolve_plain("2024-05-01T10:00:00,5Z"), Resolved::Timestamp);
        assert_eq!(resolve_plain("2000-02-29"), Resolved::Timestamp);
        assert_eq!(resolve_plain("1900-02-29"), Resolved::Str);
        assert!(is_base60_float("1:59"));
        assert!(!is_base60_float("1:60"));
        assert!(is_base60_float("1_0:5:09.5_"));
        assert!(!is_base60_float(":1"));
    }
}
