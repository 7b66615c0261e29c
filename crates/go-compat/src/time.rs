//! Go's `time.Duration` text: [`parse_go_duration`] (and [`std_duration`] for a Rust
//! `Duration`) reads what `time.ParseDuration` reads,
//! [`format_go_duration`] writes what `Duration.String()` writes.

/// Why a text is not a Go duration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DurationError {
    /// Not in Go's duration syntax (`1h30m`, `500ms`, `1.5s`, `0`).
    Syntax,
    /// In the syntax, but beyond what an int64 of nanoseconds holds (about 292 years).
    Overflow,
}

/// Go's `time.ParseDuration`, in nanoseconds (fractions computed in float64 as Go does).
pub fn parse_go_duration(text: &str) -> Option<i128> {
    parse_duration(text).ok()
}

/// A non-negative Go duration (`time.ParseDuration`'s syntax) as a Rust `Duration`.
pub fn std_duration(text: &str) -> Result<std::time::Duration, DurationError> {
    let nanos = u64::try_from(parse_duration(text)?).map_err(|_| DurationError::Syntax)?;
    Ok(std::time::Duration::from_nanos(nanos))
}

/// [`parse_go_duration`], saying why a text is refused.
fn parse_duration(text: &str) -> Result<i128, DurationError> {
    use DurationError::{Overflow, Syntax};
    const LIMIT: u64 = 1 << 63;
    let (negative, mut rest) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(Syntax);
    }
    let mut total: u64 = 0;
    while !rest.is_empty() {
        let bytes = rest.as_bytes();
        if !(bytes[0] == b'.' || bytes[0].is_ascii_digit()) {
            return Err(Syntax);
        }
        // Leading integer.
        let int_len = bytes.iter().take_while(|c| c.is_ascii_digit()).count();
        let mut v: u64 = 0;
        for &c in &bytes[..int_len] {
            if v > LIMIT / 10 {
                return Err(Overflow);
            }
            v = v * 10 + u64::from(c - b'0');
            if v > LIMIT {
                return Err(Overflow);
            }
        }
        rest = &rest[int_len..];
        let pre = int_len > 0;
        // Fraction.
        let mut fraction: u64 = 0;
        let mut scale: f64 = 1.0;
        let mut post = false;
        if let Some(after) = rest.strip_prefix('.') {
            let digits = after.bytes().take_while(u8::is_ascii_digit).count();
            post = digits > 0;
            let mut overflow = false;
            for c in after.bytes().take(digits) {
                if overflow {
                    continue;
                }
                if fraction > (LIMIT - 1) / 10 {
                    overflow = true;
                    continue;
                }
                let next = fraction * 10 + u64::from(c - b'0');
                if next > LIMIT {
                    overflow = true;
                    continue;
                }
                fraction = next;
                scale *= 10.0;
            }
            rest = &after[digits..];
        }
        if !pre && !post {
            return Err(Syntax);
        }
        // Unit.
        let unit_len = rest
            .bytes()
            .take_while(|c| *c != b'.' && !c.is_ascii_digit())
            .count();
        if unit_len == 0 {
            return Err(Syntax);
        }
        let unit: u64 = match &rest[..unit_len] {
            "ns" => 1,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => return Err(Syntax),
        };
        rest = &rest[unit_len..];
        if v > LIMIT / unit {
            return Err(Overflow);
        }
        v *= unit;
        if fraction > 0 {
            v += (fraction as f64 * (unit as f64 / scale)) as u64;
            if v > LIMIT {
                return Err(Overflow);
            }
        }
        total = total.checked_add(v).ok_or(Overflow)?;
        if total > LIMIT {
            return Err(Overflow);
        }
    }
    if negative {
        return Ok(-i128::from(total));
    }
    if total > LIMIT - 1 {
        return Err(Overflow);
    }
    Ok(i128::from(total))
}

/// Go's `time.Duration.String()`: `1h2m3.5s`, `1.5ms`, `0s`.
pub fn format_go_duration(ns: i64) -> String {
    let negative = ns < 0;
    let mut u = ns.unsigned_abs();
    let mut out = String::new();
    // Digits of u / 10^precision after the point, without trailing zeros.
    let fraction = |u: u64, precision: u32| -> (String, u64) {
        let scale = 10u64.pow(precision);
        let digits = format!("{:0width$}", u % scale, width = precision as usize);
        let digits = digits.trim_end_matches('0');
        let text = if digits.is_empty() {
            String::new()
        } else {
            format!(".{digits}")
        };
        (text, u / scale)
    };
    if u < 1_000_000_000 {
        let (precision, unit) = match u {
            0 => return "0s".into(),
            1..=999 => (0, "ns"),
            1_000..=999_999 => (3, "\u{b5}s"),
            _ => (6, "ms"),
        };
        let (frac, whole) = fraction(u, precision);
        out.push_str(&format!("{whole}{frac}{unit}"));
    } else {
        let (frac, seconds) = fraction(u, 9);
        u = seconds;
        let secs = format!("{}{frac}s", u % 60);
        u /= 60;
        if u > 0 {
            let minutes = u % 60;
            u /= 60;
            if u > 0 {
                out.push_str(&format!("{u}h"));
            }
            out.push_str(&format!("{minutes}m"));
        }
        out.push_str(&secs);
    }
    if negative {
        out.insert(0, '-');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations_parse_as_go_does() {
        let s = 1_000_000_000i128;
        assert_eq!(parse_go_duration("1.5s"), Some(s * 3 / 2));
        assert_eq!(parse_go_duration("1m30.5s"), Some(90 * s + s / 2));
        assert_eq!(parse_go_duration("-0.5m"), Some(-30 * s));
        assert_eq!(parse_go_duration("+2h"), Some(7200 * s));
        assert_eq!(parse_go_duration(".5s"), Some(s / 2));
        assert_eq!(parse_go_duration("1.s"), Some(s));
        assert_eq!(parse_go_duration("1µs"), Some(1000));
        assert_eq!(parse_go_duration("1μs2ns"), Some(1002));
        assert_eq!(parse_go_duration("0"), Some(0));
        for bad in ["", "1", "s", ".s", "1x", "1.5", "-", "2562048h", "1s-1s"] {
            assert_eq!(parse_go_duration(bad), None, "{bad}");
        }
        assert_eq!(parse_go_duration("2562047h"), Some(2_562_047 * 3600 * s));
    }

    #[test]
    fn durations_print_as_go_prints_them() {
        for (ns, text) in [
            (0, "0s"),
            (1, "1ns"),
            (1_500, "1.5\u{b5}s"),
            (1_500_000, "1.5ms"),
            (1_000_000_000, "1s"),
            (90_000_000_000, "1m30s"),
            (300_000_000_000, "5m0s"),
            (3_600_000_000_000, "1h0m0s"),
            (3_723_500_000_000, "1h2m3.5s"),
            (-1_500_000_000, "-1.5s"),
        ] {
            assert_eq!(format_go_duration(ns), text);
        }
    }
}
