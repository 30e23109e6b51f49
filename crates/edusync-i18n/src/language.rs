//! Which language a person reads.

use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Language {
    #[default]
    English,
    Vietnamese,
    Chinese,
}

impl Language {
    pub const ALL: [Language; 3] = [Language::English, Language::Vietnamese, Language::Chinese];

    /// `vi`, `zh`, `en`, and locale names such as `vi_VN.UTF-8`, `zh-CN` or
    /// `en_GB`; `None` for anything else.
    pub fn parse(text: &str) -> Option<Language> {
        let lower = text.trim().to_ascii_lowercase();
        let primary = lower.split(['_', '-', '.', '@']).next().unwrap_or_default();
        match primary {
            "vi" | "vie" => Some(Language::Vietnamese),
            "zh" | "zho" | "chi" => Some(Language::Chinese),
            "en" | "eng" => Some(Language::English),
            _ => None,
        }
    }

    /// The language of a POSIX locale, looked up as the C library does:
    /// `LC_ALL`, then `LC_MESSAGES`, then `LANG`; the first one that is set
    /// and not empty decides. `C` and `POSIX` (and languages edusync does not
    /// speak) give `None`, so the caller falls back to English.
    pub fn from_locale(variable: impl Fn(&str) -> Option<String>) -> Option<Language> {
        ["LC_ALL", "LC_MESSAGES", "LANG"]
            .into_iter()
            .filter_map(variable)
            .find(|value| !value.trim().is_empty())
            .and_then(|value| Language::parse(&value))
    }

    pub fn code(self) -> &'static str {
        match self {
            Language::English => "en",
            Language::Vietnamese => "vi",
            Language::Chinese => "zh",
        }
    }

    /// One of three texts, in the order English, Vietnamese, Chinese.
    pub fn pick<T>(self, [english, vietnamese, chinese]: [T; 3]) -> T {
        match self {
            Language::English => english,
            Language::Vietnamese => vietnamese,
            Language::Chinese => chinese,
        }
    }
}

impl fmt::Display for Language {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locale_names_name_their_language() {
        assert_eq!(Language::parse("vi_VN.UTF-8"), Some(Language::Vietnamese));
        assert_eq!(Language::parse("zh-CN"), Some(Language::Chinese));
        assert_eq!(Language::parse("zh_TW.UTF-8@stroke"), Some(Language::Chinese));
        assert_eq!(Language::parse("EN"), Some(Language::English));
        assert_eq!(Language::parse("fr_FR.UTF-8"), None);
        assert_eq!(Language::parse("C.UTF-8"), None);
    }

    #[test]
    fn lc_all_wins_over_lang_and_empty_variables_are_skipped() {
        let environment = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| pairs.iter().find(|(key, _)| *key == name).map(|(_, value)| (*value).to_owned())
        };
        assert_eq!(
            Language::from_locale(environment(&[("LC_ALL", "zh_CN.UTF-8"), ("LANG", "vi_VN.UTF-8")])),
            Some(Language::Chinese)
        );
        assert_eq!(
            Language::from_locale(environment(&[("LC_ALL", ""), ("LANG", "vi_VN.UTF-8")])),
            Some(Language::Vietnamese)
        );
        assert_eq!(Language::from_locale(environment(&[("LANG", "C")])), None);
        assert_eq!(Language::from_locale(environment(&[])), None);
    }
}
