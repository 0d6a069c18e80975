//! Log levels: parsed case-insensitively at the edge, always written in canonical upper case.

use std::fmt;
use std::str::FromStr;

/// The four levels every entry is stored with (other names map onto them at the edge).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    Debug,
    Info,
    Warn,
    Error,
}

impl Level {
    pub const ALL: [Level; 4] = [Level::Debug, Level::Info, Level::Warn, Level::Error];

    pub fn as_str(self) -> &'static str {
        match self {
            Level::Debug => "DEBUG",
            Level::Info => "INFO",
            Level::Warn => "WARN",
            Level::Error => "ERROR",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A level name that is none of the four, as given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownLevel(pub String);

impl fmt::Display for UnknownLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown level {:?}; expected DEBUG, INFO, WARN or ERROR",
            self.0
        )
    }
}

impl FromStr for Level {
    type Err = UnknownLevel;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Level::ALL
            .into_iter()
            .find(|l| l.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| UnknownLevel(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_parse_case_insensitively_and_print_canonically() {
        for (raw, want) in [
            ("debug", Level::Debug),
            ("Info", Level::Info),
            ("WARN", Level::Warn),
            (" error ", Level::Error),
        ] {
            let l: Level = raw.parse().unwrap();
            assert_eq!(l, want);
            assert_eq!(l.to_string(), l.as_str());
        }
    }

    #[test]
    fn unknown_levels_are_refused_with_the_choices() {
        let e = "FATAL".parse::<Level>().unwrap_err();
        assert!(e.to_string().contains("\"FATAL\""));
        assert!(e.to_string().contains("DEBUG, INFO, WARN or ERROR"));
        assert!("WARNING".parse::<Level>().is_err());
        assert!("".parse::<Level>().is_err());
    }
}
