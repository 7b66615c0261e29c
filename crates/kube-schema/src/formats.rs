//! The string formats kube-apiserver checks in custom resources (apiextensions-apiserver's
//! supported formats; every other format, `int32` and `int64` included, is dropped from the
//! schema before validation), each decided as kube-openapi's default format registry decides.

use std::sync::LazyLock;

use go_compat::net::{is_cidr, is_mac, parse_ip};
use go_compat::time::parse_go_duration;
use regex::Regex;

/// The checked formats, dashes removed.
const CHECKED_FORMATS: &[&str] = &[
    "bsonobjectid",
    "uri",
    "email",
    "hostname",
    "ipv4",
    "ipv6",
    "cidr",
    "mac",
    "uuid",
    "uuid3",
    "uuid4",
    "uuid5",
    "isbn",
    "isbn10",
    "isbn13",
    "creditcard",
    "ssn",
    "hexcolor",
    "rgbcolor",
    "byte",
    "password",
    "date",
    "duration",
    "datetime",
];

/// Whether the API server checks the format `format` (as written, dashes and all).
pub fn is_checked(format: &str) -> bool {
    CHECKED_FORMATS.contains(&format.replace('-', "").as_str())
}

/// A built-in pattern; None only if it failed to compile, in which case the format passes.
fn built_in(pattern: &str) -> Option<Regex> {
    Regex::new(pattern).ok()
}

fn re_holds(re: &LazyLock<Option<Regex>>, text: &str) -> bool {
    re.as_ref().is_none_or(|re| re.is_match(text))
}

static HOSTNAME: LazyLock<Option<Regex>> = LazyLock::new(|| {
    let label = r"[a-zA-Z0-9\p{S}\p{L}]";
    built_in(&format!(
        r"^({label}((-?{label}{{0,62}})?)|({label}(([a-zA-Z0-9\-\p{{S}}\p{{L}}]{{0,61}}{label})?)(\.)){{1,}}([a-zA-Z\p{{L}}]){{2,63}})$"
    ))
});
/// A UUID (case-insensitive, dashes optional) whose third and fourth groups match `third` and
/// `fourth`: where the version digit and the variant bits stand.
fn uuid(third: &str, fourth: &str) -> Option<Regex> {
    built_in(&format!(
        r"(?i)^[0-9a-f]{{8}}-?[0-9a-f]{{4}}-?{third}-?{fourth}-?[0-9a-f]{{12}}$"
    ))
}
const HEX4: &str = "[0-9a-f]{4}";
static UUID: LazyLock<Option<Regex>> = LazyLock::new(|| uuid(HEX4, HEX4));
static UUID3: LazyLock<Option<Regex>> = LazyLock::new(|| uuid("3[0-9a-f]{3}", HEX4));
static UUID4: LazyLock<Option<Regex>> = LazyLock::new(|| uuid("4[0-9a-f]{3}", "[89ab][0-9a-f]{3}"));
static UUID5: LazyLock<Option<Regex>> = LazyLock::new(|| uuid("5[0-9a-f]{3}", "[89ab][0-9a-f]{3}"));
static SSN: LazyLock<Option<Regex>> =
    LazyLock::new(|| built_in(r"^[0-9]{3}[- ]?[0-9]{2}[- ]?[0-9]{4}$"));
static HEX_COLOR: LazyLock<Option<Regex>> =
    LazyLock::new(|| built_in(r"^#?([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$"));
static RGB_COLOR: LazyLock<Option<Regex>> = LazyLock::new(|| {
    let byte = r"(0|[1-9][0-9]?|1[0-9][0-9]?|2[0-4][0-9]|25[0-5])";
    let s = r"[\t\n\f\r ]*";
    built_in(&format!(r"^rgb\({s}{byte}{s},{s}{byte}{s},{s}{byte}{s}\)$"))
});
static BASE64: LazyLock<Option<Regex>> = LazyLock::new(|| {
    built_in(r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{4})$")
});
static CREDIT_CARD: LazyLock<Option<Regex>> = LazyLock::new(|| {
    built_in(
        r"^(?:4[0-9]{12}(?:[0-9]{3})?|5[1-5][0-9]{14}|6(?:011|5[0-9][0-9])[0-9]{12}|3[47][0-9]{13}|3(?:0[0-5]|[68][0-9])[0-9]{11}|(?:2131|1800|35[0-9]{3})[0-9]{11})$",
    )
});
static TIME_OF_DAY: LazyLock<Option<Regex>> = LazyLock::new(|| {
    built_in(r"^([0-9]{2}):([0-9]{2}):([0-9]{2})(.[0-9]+)?(z|([+-][0-9]{2}:[0-9]{2}))$")
});
static SCALA_DURATION: LazyLock<Option<Regex>> =
    LazyLock::new(|| built_in(r"^[\t\n\f\r ]*(?:[0-9]+[\t\n\f\r ]*[A-Za-zµ]+[\t\n\f\r ]*)+$"));
static DURATION_PART: LazyLock<Option<Regex>> =
    LazyLock::new(|| built_in(r"([0-9]+)[\t\n\f\r ]*([A-Za-zµ]+)"));

/// Whether `text` has the string format `format` (dashes removed), as kube-openapi's default
/// format registry decides.
pub fn format_holds(format: &str, text: &str) -> bool {
    match format {
        "bsonobjectid" => text.len() == 24 && text.bytes().all(|b| b.is_ascii_hexdigit()),
        "uri" => is_request_uri(text),
        "email" => is_email(text),
        "hostname" => {
            re_holds(&HOSTNAME, text)
                && text.len() <= 255
                && text.split('.').all(|label| label.len() <= 63)
        }
        "ipv4" => parse_ip(text, true) && text.contains('.'),
        "ipv6" => parse_ip(text, false) && text.contains(':'),
        "cidr" => is_cidr(text),
        "mac" => is_mac(text),
        "uuid" => re_holds(&UUID, text),
        "uuid3" => re_holds(&UUID3, text),
        "uuid4" => re_holds(&UUID4, text),
        "uuid5" => re_holds(&UUID5, text),
        "isbn" => is_isbn10(text) || is_isbn13(text),
        "isbn10" => is_isbn10(text),
        "isbn13" => is_isbn13(text),
        "creditcard" => is_credit_card(text),
        "ssn" => text.len() == 11 && re_holds(&SSN, text),
        "hexcolor" => re_holds(&HEX_COLOR, text),
        "rgbcolor" => re_holds(&RGB_COLOR, text),
        "byte" => re_holds(&BASE64, text),
        "date" => is_date(text),
        "datetime" => is_date_time(text),
        "duration" => parse_go_duration(text).is_some() || is_scala_duration(text),
        _ => true,
    }
}

fn days_in(month: u32, year: u32) -> u32 {
    match month {
        2 if (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400) => {
            29
        }
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Go's `time.Parse("2006-01-02", text)` succeeds.
fn is_date(text: &str) -> bool {
    let b = text.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return false;
    }
    let number = |from: usize, to: usize| {
        text.get(from..to)
            .filter(|t| t.bytes().all(|c| c.is_ascii_digit()))
            .and_then(|t| t.parse::<u32>().ok())
    };
    let (Some(year), Some(month), Some(day)) = (number(0, 4), number(5, 7), number(8, 10)) else {
        return false;
    };
    (1..=12).contains(&month) && day >= 1 && day <= days_in(month, year)
}

/// go-openapi's date-time check: a date, a `t` (any case), a time of day with an optional
/// fraction and a `z` or `±hh:mm` zone.
fn is_date_time(text: &str) -> bool {
    if text.len() < 4 {
        return false;
    }
    let lower = text.to_lowercase();
    let mut parts = lower.split('t');
    let (Some(date), Some(time)) = (parts.next(), parts.next()) else {
        return false;
    };
    if !is_date(date) {
        return false;
    }
    let Some(Some(caps)) = TIME_OF_DAY.as_ref().map(|re| re.captures(time)) else {
        return TIME_OF_DAY.is_none();
    };
    let field = |i: usize| caps.get(i).map(|m| m.as_str()).unwrap_or("99");
    field(1) <= "23" && field(2) <= "59" && field(3) <= "59"
}

/// The Scala-style durations go-openapi accepts besides Go's: `3 days`, `1w`, `10 min`.
fn is_scala_duration(text: &str) -> bool {
    const UNITS: &[&[&str]] = &[
        &["ns", "nano"],
        &["us", "µs", "micro"],
        &["ms", "milli"],
        &["s", "sec"],
        &["m", "min"],
        &["h", "hr", "hour"],
        &["d", "day"],
        &["w", "wk", "week"],
    ];
    let (Some(shape), Some(part)) = (SCALA_DURATION.as_ref(), DURATION_PART.as_ref()) else {
        return true;
    };
    if !shape.is_match(text) {
        return false;
    }
    let mut known = false;
    for caps in part.captures_iter(text) {
        let (Some(count), Some(unit)) = (caps.get(1), caps.get(2)) else {
            continue;
        };
        if count.as_str().parse::<i64>().is_err() {
            return false;
        }
        let unit = unit.as_str().trim().to_lowercase();
        for variants in UNITS {
            let last = variants.len() - 1;
            for (i, variant) in variants.iter().enumerate() {
                if (i == last && unit.starts_with(variant)) || unit == variant.to_lowercase() {
                    known = true;
                }
            }
        }
    }
    known
}

fn isbn_digits(text: &str) -> String {
    text.chars()
        .filter(|c| !matches!(c, '\t' | '\n' | '\u{c}' | '\r' | ' ' | '-'))
        .collect()
}

fn is_isbn10(text: &str) -> bool {
    let s = isbn_digits(text);
    let b = s.as_bytes();
    if b.len() != 10
        || !b[..9].iter().all(u8::is_ascii_digit)
        || !(b[9].is_ascii_digit() || b[9] == b'X')
    {
        return false;
    }
    let mut sum: u32 = b[..9]
        .iter()
        .enumerate()
        .map(|(i, c)| (i as u32 + 1) * u32::from(c - b'0'))
        .sum();
    sum += 10
        * if b[9] == b'X' {
            10
        } else {
            u32::from(b[9] - b'0')
        };
    sum.is_multiple_of(11)
}

fn is_isbn13(text: &str) -> bool {
    let s = isbn_digits(text);
    let b = s.as_bytes();
    if b.len() != 13 || !b.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let sum: u32 = b[..12]
        .iter()
        .enumerate()
        .map(|(i, c)| if i % 2 == 0 { 1 } else { 3 } * u32::from(c - b'0'))
        .sum();
    u32::from(b[12] - b'0') == (10 - sum % 10) % 10
}

/// govalidator's credit card check: the digits (anything else removed) match a card number
/// pattern and pass the Luhn checksum.
fn is_credit_card(text: &str) -> bool {
    let digits: String = text.chars().filter(char::is_ascii_digit).collect();
    if !re_holds(&CREDIT_CARD, &digits) {
        return false;
    }
    let mut sum = 0;
    for (i, c) in digits.bytes().rev().enumerate() {
        let mut d = u32::from(c - b'0');
        if i % 2 == 1 {
            d *= 2;
            if d >= 10 {
                d = d % 10 + 1;
            }
        }
        sum += d;
    }
    sum % 10 == 0
}

/// Close to Go's `url.ParseRequestURI`: `*`, an absolute path, or a scheme with an opaque
/// part or a `//` authority (port digits, host characters, `%` escapes checked).
fn is_request_uri(text: &str) -> bool {
    if text.is_empty() || text.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return false;
    }
    if text == "*" {
        return true;
    }
    let mut scheme = "";
    let mut rest = text;
    for (i, c) in text.bytes().enumerate() {
        match c {
            b'a'..=b'z' | b'A'..=b'Z' => {}
            b'0'..=b'9' | b'+' | b'-' | b'.' if i > 0 => {}
            b':' if i == 0 => return false,
            b':' => {
                scheme = &text[..i];
                rest = &text[i + 1..];
                break;
            }
            _ => break,
        }
    }
    let rest = match rest.split_once('?') {
        Some((before, _)) => before,
        None => rest,
    };
    if !rest.starts_with('/') {
        return !scheme.is_empty();
    }
    let mut path = rest;
    if !scheme.is_empty()
        && let Some(after) = rest.strip_prefix("//")
    {
        let end = after.find('/').unwrap_or(after.len());
        if !valid_authority(&after[..end]) {
            return false;
        }
        path = &after[end..];
    }
    valid_escapes(path)
}

fn valid_escapes(text: &str) -> bool {
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            if i + 2 >= b.len() || !(b[i + 1].is_ascii_hexdigit() && b[i + 2].is_ascii_hexdigit()) {
                return false;
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    true
}

fn valid_authority(authority: &str) -> bool {
    let host = match authority.rfind('@') {
        Some(at) => {
            let user = &authority[..at];
            let allowed = |c: char| c.is_ascii_alphanumeric() || "-._:~!$&'()*+,;=%@".contains(c);
            if !user.chars().all(allowed) || !valid_escapes(user) {
                return false;
            }
            &authority[at + 1..]
        }
        None => authority,
    };
    let port_ok = |port: &str| {
        port.is_empty() || (port.starts_with(':') && port[1..].bytes().all(|c| c.is_ascii_digit()))
    };
    let name = if let Some(inner) = host.strip_prefix('[') {
        let Some(close) = inner.find(']') else {
            return false;
        };
        if !port_ok(&inner[close + 1..]) {
            return false;
        }
        &inner[..close]
    } else {
        if let Some(colon) = host.rfind(':')
            && !port_ok(&host[colon..])
        {
            return false;
        }
        host
    };
    name.chars().all(|c| {
        !c.is_ascii() || c.is_ascii_alphanumeric() || "-._~!$&'()*+,;=:[]<>\"%".contains(c)
    }) && valid_escapes(name)
}

/// Close to Go's `mail.ParseAddress`: an addr-spec, or a display name and `<addr-spec>`.
fn is_email(text: &str) -> bool {
    let text = text.trim_matches(|c| c == ' ' || c == '\t');
    let spec = match (text.rfind('<'), text.strip_suffix('>')) {
        (Some(open), Some(inner)) => &inner[open + 1..],
        _ => text,
    };
    let Some(at) = spec.rfind('@') else {
        return false;
    };
    let (local, domain) = (&spec[..at], &spec[at + 1..]);
    let atext = |c: char| !c.is_ascii() || (c.is_ascii_graphic() && !"()<>[]:;@\\,\".".contains(c));
    let local_ok = if let Some(quoted) = local.strip_prefix('"').and_then(|l| l.strip_suffix('"')) {
        !quoted.is_empty() || local.len() == 2
    } else {
        !local.is_empty()
            && local.chars().all(|c| c == '.' || atext(c))
            && local.chars().any(|c| c != '.')
    };
    let domain_ok = if domain.starts_with('[') {
        domain.ends_with(']') && domain.len() > 2
    } else {
        !domain.is_empty()
            && domain
                .split('.')
                .all(|label| !label.is_empty() && label.chars().all(atext))
    };
    local_ok && domain_ok
}
