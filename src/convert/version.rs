//! Calico version strings (`v3.28.0`, `3.30.1-rc1`) as far as behaviour depends on them.

use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct CalicoVersion {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

impl CalicoVersion {
    /// Parses `v3.28.0`, `3.28`, `v3.30.0-0.dev-123-gabc`: a leading `v` and any `-suffix` are
    /// ignored. None for anything else (an empty or custom version string).
    pub fn parse(text: &str) -> Option<CalicoVersion> {
        let text = text.trim();
        let text = text.strip_prefix('v').unwrap_or(text);
        let core = text.split(['-', '+']).next()?;
        let mut parts = core.split('.');
        let major = parts.next()?.parse().ok()?;
        let minor = parts.next()?.parse().ok()?;
        let patch = match parts.next() {
            Some(p) => p.parse().ok()?,
            None => 0,
        };
        Some(CalicoVersion {
            major,
            minor,
            patch,
        })
    }

    /// Minor version of Calico 3.x (older majors count as 0, newer as unbounded).
    pub fn minor3(self) -> u32 {
        match self.major {
            3 => self.minor,
            m if m < 3 => 0,
            _ => u32::MAX,
        }
    }
}

impl fmt::Display for CalicoVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}.{}.{}", self.major, self.minor, self.patch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_calico_versions() {
        let v = |major, minor, patch| {
            Some(CalicoVersion {
                major,
                minor,
                patch,
            })
        };
        assert_eq!(CalicoVersion::parse("v3.28.0"), v(3, 28, 0));
        assert_eq!(CalicoVersion::parse("3.30.1-rc1"), v(3, 30, 1));
        assert_eq!(
            CalicoVersion::parse("v3.34.0-0.dev-281-g87c15906f20c"),
            v(3, 34, 0)
        );
        assert_eq!(CalicoVersion::parse("v3.29"), v(3, 29, 0));
        assert_eq!(CalicoVersion::parse(""), None);
        assert_eq!(CalicoVersion::parse("master"), None);
        assert!(CalicoVersion::parse("v3.9.0") < CalicoVersion::parse("v3.10.0"));
        assert_eq!(CalicoVersion::parse("v2.6.0").unwrap().minor3(), 0);
    }
}
