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

impl Level {
    /// The level of a name other loggers use: syslog's (`warning`, `err`, `notice`, `crit`,
    /// `alert`, `emerg`), `fatal`, `trace`, winston's (`verbose`, `silly`, `http`), .NET's and
    /// others', besides the four; `None` for anything else. For ingest only: queries take the
    /// four names.
    pub fn from_alias(name: &str) -> Option<Level> {
        if let Ok(l) = name.parse() {
            return Some(l);
        }
        let n = name.trim().to_ascii_lowercase();
        Some(match n.as_str() {
            "trace" | "verbose" | "silly" | "dbg" | "finest" | "finer" | "fine" => Level::Debug,
            "information" | "informational" | "notice" | "log" | "http" | "ok" | "default" => {
                Level::Info
            }
            "warning" | "wrn" => Level::Warn,
            "err" | "fatal" | "critical" | "crit" | "alert" | "emerg" | "emergency" | "panic"
            | "severe" => Level::Error,
            _ => return None,
        })
    }

    /// The level of pino's numbers (10 trace, 20 debug, 30 info, 40 warn, 50 error, 60 fatal;
    /// a custom level in between takes the one below it).
    pub fn from_pino(n: f64) -> Option<Level> {
        match n {
            n if !(1.0..=100.0).contains(&n) => None,
            n if n < 30.0 => Some(Level::Debug),
            n if n < 40.0 => Some(Level::Info),
            n if n < 50.0 => Some(Level::Warn),
            _ => Some(Level::Error),
        }
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

    #[test]
    fn other_loggers_level_names_and_pino_numbers_map_onto_the_four() {
        for (name, want) in [
            ("warning", Level::Warn),
            ("err", Level::Error),
            ("notice", Level::Info),
            ("CRIT", Level::Error),
            ("alert", Level::Error),
            ("emerg", Level::Error),
            ("fatal", Level::Error),
            ("trace", Level::Debug),
            ("verbose", Level::Debug),
            ("Info", Level::Info),
        ] {
            assert_eq!(Level::from_alias(name), Some(want), "{name}");
        }
        assert_eq!(Level::from_alias("banana"), None);
        for (n, want) in [
            (10.0, Level::Debug),
            (20.0, Level::Debug),
            (30.0, Level::Info),
            (40.0, Level::Warn),
            (50.0, Level::Error),
            (60.0, Level::Error),
            (35.0, Level::Info),
        ] {
            assert_eq!(Level::from_pino(n), Some(want), "{n}");
        }
        assert_eq!(Level::from_pino(0.0), None);
        assert_eq!(Level::from_pino(1_000.0), None);
    }
}
