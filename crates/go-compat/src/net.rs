//! IP addresses, CIDRs and MAC addresses read as Go's `net` package reads them (and, with
//! `sloppy`, as Kubernetes' `ParseIPSloppy` and `ParseCIDRSloppy` do: leading zeros allowed).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Dotted-decimal IPv4 as Go parses it; `sloppy` (Kubernetes' `ParseIPSloppy`) allows
/// leading zeros.
pub fn parse_ipv4(text: &str, sloppy: bool) -> bool {
    let mut parts = text.split('.');
    for _ in 0..4 {
        let Some(part) = parts.next() else {
            return false;
        };
        if part.is_empty() || !part.bytes().all(|c| c.is_ascii_digit()) {
            return false;
        }
        if !sloppy && part.len() > 1 && part.starts_with('0') {
            return false;
        }
        let mut n: u32 = 0;
        for c in part.bytes() {
            n = n * 10 + u32::from(c - b'0');
            if n > 0xff {
                return false;
            }
        }
    }
    parts.next().is_none()
}

/// IPv6 as Go's `net.ParseIP` reads it (groups, one `::`, a trailing IPv4, no zone).
pub fn parse_ipv6(text: &str, sloppy: bool) -> bool {
    let mut rest = text;
    let mut ellipsis = false;
    if let Some(after) = rest.strip_prefix("::") {
        ellipsis = true;
        rest = after;
        if rest.is_empty() {
            return true;
        }
    }
    let mut filled = 0;
    while filled < 16 {
        let digits = rest.bytes().take_while(u8::is_ascii_hexdigit).count();
        if digits == 0 || (!sloppy && digits > 4) {
            return false;
        }
        let mut n: u32 = 0;
        for c in rest[..digits].bytes() {
            n = n * 16 + (c as char).to_digit(16).unwrap_or(0);
            if n > 0xff_ffff {
                return false;
            }
        }
        if rest[digits..].starts_with('.') {
            if (!ellipsis && filled != 12) || filled + 4 > 16 || !parse_ipv4(rest, sloppy) {
                return false;
            }
            rest = "";
            filled += 4;
            break;
        }
        if n > 0xffff {
            return false;
        }
        filled += 2;
        rest = &rest[digits..];
        if rest.is_empty() {
            break;
        }
        if !rest.starts_with(':') || rest.len() == 1 {
            return false;
        }
        rest = &rest[1..];
        if let Some(after) = rest.strip_prefix(':') {
            if ellipsis {
                return false;
            }
            ellipsis = true;
            rest = after;
            if rest.is_empty() {
                break;
            }
        }
    }
    rest.is_empty() && (filled == 16) != ellipsis
}

/// Go's `net.ParseIP` (or Kubernetes' sloppy form) accepts `text`.
pub fn parse_ip(text: &str, sloppy: bool) -> bool {
    match text.bytes().find(|b| *b == b'.' || *b == b':') {
        Some(b'.') => parse_ipv4(text, sloppy),
        Some(_) => parse_ipv6(text, sloppy),
        None => false,
    }
}

/// Kubernetes' `ParseCIDRSloppy`: an address, `/`, a prefix length within its family.
pub fn is_cidr(text: &str) -> bool {
    let Some((address, mask)) = text.split_once('/') else {
        return false;
    };
    let bits = if parse_ipv4(address, true) {
        32
    } else if parse_ipv6(address, true) {
        128
    } else {
        return false;
    };
    !mask.is_empty()
        && mask.bytes().all(|c| c.is_ascii_digit())
        && mask
            .bytes()
            .try_fold(0u64, |n, c| {
                let n = n * 10 + u64::from(c - b'0');
                (n < 0xff_ffff).then_some(n)
            })
            .is_some_and(|n| n <= bits)
}

/// A CIDR as Go's `net.IPNet.String()` prints it after `net.ParseCIDR`: the network address
/// (host bits cleared) in canonical form, IPv4-mapped IPv6 networks in IPv4 form. The error is
/// Go's.
pub fn canonical_cidr(cidr: &str) -> Result<String, String> {
    let invalid = || format!("invalid CIDR address: {cidr}");
    let (address, length) = cidr.split_once('/').ok_or_else(invalid)?;
    if length.is_empty() || !length.bytes().all(|c| c.is_ascii_digit()) || length.len() > 3 {
        return Err(invalid());
    }
    let length: u32 = length.parse().map_err(|_| invalid())?;
    // Go accepts only dotted-quad IPv4 and textual IPv6; Rust's parser is at least as strict.
    let ip: IpAddr = address.parse().map_err(|_| invalid())?;
    let (bits, value) = match ip {
        IpAddr::V4(v4) => (32, u128::from(u32::from(v4))),
        IpAddr::V6(v6) => (128, u128::from(v6)),
    };
    if length > bits {
        return Err(invalid());
    }
    let host_bits = bits - length;
    // Clears the host bits (all 128 of them for `::/0`, which a shift cannot do).
    let network = if host_bits == 128 {
        0
    } else {
        value >> host_bits << host_bits
    };
    Ok(match ip {
        IpAddr::V4(_) => format!("{}/{length}", Ipv4Addr::from(network as u32)),
        IpAddr::V6(_) => match Ipv6Addr::from(network).to_ipv4_mapped() {
            Some(v4) if length >= 96 => format!("{v4}/{}", length - 96),
            _ => format!("{}/{length}", Ipv6Addr::from(network)),
        },
    })
}

/// Go's `net.ParseMAC`: 6, 8 or 20 octets as `xx:xx…`, `xx-xx…` or `xxxx.xxxx…`.
pub fn is_mac(text: &str) -> bool {
    let b = text.as_bytes();
    if b.len() < 14 {
        return false;
    }
    let hex = |part: &[u8]| part.iter().all(u8::is_ascii_hexdigit);
    if b[2] == b':' || b[2] == b'-' {
        let separator = b[2];
        (b.len() + 1).is_multiple_of(3)
            && [6, 8, 20].contains(&((b.len() + 1) / 3))
            && b.chunks(3)
                .all(|c| hex(&c[..2]) && (c.len() == 2 || c[2] == separator))
    } else if b[4] == b'.' {
        (b.len() + 1).is_multiple_of(5)
            && [6, 8, 20].contains(&(2 * (b.len() + 1) / 5))
            && b.chunks(5)
                .all(|c| c.len() >= 4 && hex(&c[..4]) && (c.len() == 4 || c[4] == b'.'))
    } else {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs_are_canonicalised_as_go_prints_them() {
        assert_eq!(canonical_cidr("10.65.79.0/26").unwrap(), "10.65.79.0/26");
        assert_eq!(canonical_cidr("10.65.79.7/26").unwrap(), "10.65.79.0/26");
        assert_eq!(canonical_cidr("FD00:0:0::/122").unwrap(), "fd00::/122");
        assert_eq!(canonical_cidr("10.1.2.3/0").unwrap(), "0.0.0.0/0");
        assert_eq!(canonical_cidr("fd00::1/0").unwrap(), "::/0");
        assert_eq!(canonical_cidr("fd00::1/128").unwrap(), "fd00::1/128");
        assert_eq!(
            canonical_cidr("::ffff:10.1.0.0/112").unwrap(),
            "10.1.0.0/16"
        );
        for bad in [
            "10.0.0.0",
            "10.0.0.0/33",
            "10.0.0/8",
            "x/8",
            "10.0.0.0/+8",
            "fd00::/129",
        ] {
            assert!(canonical_cidr(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ip_addresses_parse_as_go_parses_them() {
        assert!(
            parse_ip("1.2.3.4", false)
                && !parse_ip("01.2.3.4", false)
                && parse_ip("01.2.3.4", true)
        );
        assert!(
            parse_ip("::1", false)
                && parse_ip("1::", false)
                && parse_ip("1:2:3:4:5:6:1.2.3.4", false)
        );
        assert!(!parse_ip("1:2:3:4:5:6:7:1.2.3.4", false) && !parse_ip("1:2:3:4:5:6:7:8::", false));
        assert!(!parse_ip(":1", false) && !parse_ip("1:", false) && !parse_ip("", false));
        assert!(is_cidr("0.0.0.0/0") && is_cidr("10.0.0.1/024") && !is_cidr("/8"));
    }

    #[test]
    fn mac_addresses_parse_as_go_parses_them() {
        assert!(is_mac("00:11:22:33:44:55") && is_mac("00-11-22-33-44-55"));
        assert!(is_mac("0011.2233.4455") && is_mac("00:11:22:33:44:55:66:77"));
        assert!(!is_mac("00:11:22:33:44") && !is_mac("00:11-22:33:44:55"));
        assert!(!is_mac("0011.2233.445") && !is_mac("zz:11:22:33:44:55") && !is_mac(""));
    }
}
