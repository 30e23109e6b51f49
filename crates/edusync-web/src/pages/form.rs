//! Forms described once, as the record's fields: each field names its
//! place in the record (`activities[1].content`), so the same description
//! draws the form, reads what was typed into the record's JSON, and puts
//! a refusal (from here or from the node, which names the same place) next
//! to the field it is about.

use std::collections::HashMap;

use edusync_core::{Reason, ValidationError};
use edusync_i18n::Language;
use maud::{html, Markup};
use serde_json::Value;

/// How a field is typed and read.
#[derive(Clone, Debug)]
pub(super) enum Input {
    /// One line of text.
    Text,
    /// Paragraphs.
    LongText,
    /// `YYYY-MM-DD`.
    Date,
    /// A whole number, 0 or more.
    Count,
    /// One of a closed set: (stored value, as shown).
    Choice(Vec<(&'static str, String)>),
    /// Yes or no.
    Check,
    /// A list, one entry per line.
    Lines,
    /// A list, entries separated by commas.
    Commas,
    /// Any of a closed set, each a checkbox: (stored value, as shown).
    Checks(Vec<(&'static str, String)>),
}

/// One field of a form: where it goes in the record, how it reads, whether
/// it must be filled. Fields of a repeated row (`students[2].name`) are
/// left out of the record when the whole row is empty.
#[derive(Clone, Debug)]
pub(super) struct Field {
    pub(super) path: String,
    pub(super) label: String,
    pub(super) input: Input,
    pub(super) required: bool,
}

impl Field {
    pub(super) fn new(path: impl Into<String>, label: impl Into<String>, input: Input) -> Field {
        Field { path: path.into(), label: label.into(), input, required: true }
    }

    pub(super) fn optional(mut self) -> Field {
        self.required = false;
        self
    }

    /// The repeated row it belongs to (`students[2]`), if any.
    fn row(&self) -> Option<&str> {
        let end = self.path.find(']')?;
        Some(&self.path[..=end])
    }

    fn id(&self) -> String {
        self.path.replace(['[', ']', '.', ':'], "_")
    }
}

/// What was wrong with a form: the field it names (as the record or the
/// node named it), and the sentence to show.
pub(super) struct FormProblem {
    pub(super) field: Option<String>,
    /// The whole sentence, field named: shown at the top when no field shows it.
    pub(super) message: String,
    /// The reason alone, shown under the field it is about.
    pub(super) reason: Option<String>,
}

impl FormProblem {
    /// A problem found here, before anything was sent.
    pub(super) fn of(error: &ValidationError, language: Language) -> FormProblem {
        FormProblem {
            field: Some(error.field.clone()),
            message: edusync_i18n::validation_error(error, language),
            reason: Some(edusync_i18n::reason(&error.reason, language)),
        }
    }

    /// What the node answered.
    pub(super) fn said(status: &tonic::Status, language: Language) -> FormProblem {
        match edusync_proto::validation_error_of(status) {
            Some(error) => FormProblem::of(&error, language),
            None => FormProblem::unplaced(status.message().to_owned()),
        }
    }

    pub(super) fn unplaced(message: String) -> FormProblem {
        FormProblem { field: None, message, reason: None }
    }
}

/// Reads a form into the record's JSON. Rows left wholly empty are dropped
/// and later rows numbered down, so the second map says, for a place in
/// the record (`students[0]`), the row of the form it came from
/// (`students[1]`). A field refused here is named as the form names it.
pub(super) fn read(
    fields: &[Field],
    form: &HashMap<String, String>,
) -> Result<(Value, Vec<(String, String)>), ValidationError> {
    let typed = |field: &Field| form.get(&field.path).map(|text| text.trim()).unwrap_or_default();
    let row_filled = |row: &str| {
        fields.iter().filter(|field| field.row() == Some(row)).any(|field| match &field.input {
            // A choice always has a value: it alone does not fill a row.
            Input::Choice(_) | Input::Check | Input::Checks(_) => false,
            _ => !typed(field).is_empty(),
        })
    };
    let mut renames: Vec<(String, String)> = Vec::new();
    let mut next_index: HashMap<String, usize> = HashMap::new();
    let mut root = Value::Object(serde_json::Map::new());
    for field in fields {
        let mut path = field.path.clone();
        if let Some(row) = field.row() {
            if !row_filled(row) {
                continue;
            }
            let name = &row[..row.find('[').unwrap_or(row.len())];
            let renamed = match renames.iter().find(|(_, from)| from == row) {
                Some((to, _)) => to.clone(),
                None => {
                    let index = next_index.entry(name.to_owned()).or_default();
                    let to = format!("{name}[{index}]");
                    *index += 1;
                    renames.push((to.clone(), row.to_owned()));
                    to
                }
            };
            path = format!("{renamed}{}", &field.path[row.len()..]);
        }
        let text = typed(field);
        let value = match &field.input {
            Input::Text | Input::LongText => {
                if text.is_empty() && !field.required {
                    continue;
                }
                Value::from(text)
            }
            Input::Choice(options) => {
                if !options.iter().any(|(value, _)| *value == text) {
                    let expected = options.iter().map(|(value, _)| (*value).to_owned()).collect();
                    return Err(ValidationError::new(
                        field.path.clone(),
                        Reason::UnknownValue { value: text.to_owned(), expected },
                    ));
                }
                Value::from(text)
            }
            Input::Date => {
                if text.is_empty() {
                    if field.required {
                        return Err(ValidationError::new(field.path.clone(), Reason::Required));
                    }
                    continue;
                }
                chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
                    .map(|date| Value::from(date.to_string()))
                    .map_err(|_| ValidationError::new(field.path.clone(), Reason::NotADate { text: text.to_owned() }))?
            }
            Input::Count => {
                if text.is_empty() {
                    if field.required {
                        return Err(ValidationError::new(field.path.clone(), Reason::Required));
                    }
                    continue;
                }
                Value::from(count(&field.path, text)?)
            }
            Input::Check => Value::from(form.contains_key(&field.path)),
            Input::Lines => text.lines().map(str::trim).filter(|line| !line.is_empty()).map(Value::from).collect(),
            Input::Commas => text.split(',').map(str::trim).filter(|item| !item.is_empty()).map(Value::from).collect(),
            Input::Checks(options) => options
                .iter()
                .filter(|(value, _)| form.contains_key(&format!("{}::{value}", field.path)))
                .map(|(value, _)| Value::from(*value))
                .collect(),
        };
        set(&mut root, &path, value);
    }
    Ok((root, renames))
}

fn count(path: &str, text: &str) -> Result<u64, ValidationError> {
    match text.parse::<u32>() {
        Ok(count) => Ok(u64::from(count)),
        Err(_) if text.strip_prefix('-').is_some_and(|digits| digits.parse::<u64>().is_ok()) => {
            Err(ValidationError::new(path, Reason::NegativeCount { text: text.to_owned() }))
        }
        Err(_) if text.bytes().all(|byte| byte.is_ascii_digit()) => {
            Err(ValidationError::new(path, Reason::OutOfRange { value: text.to_owned() }))
        }
        Err(_) => Err(ValidationError::new(path, Reason::NotAWholeNumber { text: text.to_owned() })),
    }
}

/// Puts `value` at `path` (`a.b[2].c`), making objects and arrays on the way.
fn set(root: &mut Value, path: &str, value: Value) {
    let mut at = root;
    let segments: Vec<&str> = path.split('.').collect();
    for (position, segment) in segments.iter().enumerate() {
        let last = position + 1 == segments.len();
        let (name, index) = match segment.find('[') {
            Some(open) => (&segment[..open], segment[open + 1..].trim_end_matches(']').parse::<usize>().ok()),
            None => (*segment, None),
        };
        let Value::Object(object) = at else { return };
        match index {
            None if last => {
                object.insert(name.to_owned(), value);
                return;
            }
            None => at = object.entry(name.to_owned()).or_insert_with(|| Value::Object(Default::default())),
            Some(index) => {
                let Value::Array(items) = object.entry(name.to_owned()).or_insert_with(|| Value::Array(Vec::new()))
                else {
                    return;
                };
                while items.len() <= index {
                    items.push(Value::Object(Default::default()));
                }
                if last {
                    items[index] = value;
                    return;
                }
                at = &mut items[index];
            }
        }
    }
}

/// The record's JSON as `T`, or the first field that cannot be one.
pub(super) fn decode<T: serde::de::DeserializeOwned>(value: Value) -> Result<T, ValidationError> {
    serde_path_to_error::deserialize::<_, T>(value).map_err(|error| {
        let path = error.path().to_string();
        let path = if path == "." { String::new() } else { path };
        ValidationError::new(path, Reason::malformed(error.inner().to_string()))
    })
}

/// A place the node or the decoder named (`record.students[0].grade`), as
/// the form's field it is about (`students[1].grade`).
pub(super) fn form_place(named: &str, renames: &[(String, String)]) -> String {
    let named = named.strip_prefix("record.").unwrap_or(named);
    for (to, from) in renames {
        if let Some(rest) = named.strip_prefix(to.as_str()) {
            if rest.is_empty() || rest.starts_with('.') {
                return format!("{from}{rest}");
            }
        }
    }
    named.to_owned()
}

/// A form being drawn: its fields, what was typed, and what was wrong.
pub(super) struct FormView<'a> {
    pub(super) language: Language,
    pub(super) values: &'a HashMap<String, String>,
    pub(super) problem: Option<&'a FormProblem>,
}

impl FormView<'_> {
    fn value(&self, name: &str) -> String {
        self.values.get(name).cloned().unwrap_or_default()
    }

    /// The problem's message when it is about `name` or a part of it.
    fn error_for(&self, name: &str) -> Option<String> {
        let problem = self.problem?;
        let field = problem.field.as_deref()?;
        let field = field.strip_prefix("record.").unwrap_or(field);
        (field == name || field.starts_with(&format!("{name}.")) || field.starts_with(&format!("{name}[")))
            .then(|| problem.reason.clone().unwrap_or_else(|| problem.message.clone()))
    }

    /// The problem, when no field of `fields` shows it.
    pub(super) fn unplaced(&self, names: &[&str]) -> Option<String> {
        let problem = self.problem?;
        let placed = problem.field.as_deref().is_some_and(|field| {
            let field = field.strip_prefix("record.").unwrap_or(field);
            names.iter().any(|name| {
                field == *name || field.starts_with(&format!("{name}.")) || field.starts_with(&format!("{name}["))
            })
        });
        (!placed).then(|| problem.message.clone())
    }

    fn optional_mark(&self, required: bool) -> Markup {
        html! { @if !required { " (" (crate::Label::Optional.text(self.language)) ")" } }
    }

    /// One field: its label, its input, and its problem under it.
    pub(super) fn field(&self, field: &Field) -> Markup {
        let id = field.id();
        let name = field.path.as_str();
        let error = self.error_for(name);
        let error_id = format!("{id}-error");
        let described = error.as_ref().map(|_| error_id.clone());
        let invalid = error.as_ref().map(|_| "true");
        let value = self.value(name);
        let input = match &field.input {
            Input::Text | Input::Date | Input::Count | Input::Commas => {
                let kind = match field.input {
                    Input::Date => "date",
                    Input::Count => "number",
                    _ => "text",
                };
                html! {
                    label for=(id) { (field.label) (self.optional_mark(field.required)) }
                    input id=(id) name=(name) type=(kind) value=(value) required[field.required]
                        min=[matches!(field.input, Input::Count).then_some("0")]
                        inputmode=[matches!(field.input, Input::Count).then_some("numeric")]
                        aria-invalid=[invalid] aria-describedby=[described];
                }
            }
            Input::LongText | Input::Lines => html! {
                label for=(id) { (field.label) (self.optional_mark(field.required)) }
                textarea id=(id) name=(name) required[field.required] aria-invalid=[invalid] aria-describedby=[described] { (value) }
            },
            Input::Choice(options) => html! {
                label for=(id) { (field.label) }
                select id=(id) name=(name) aria-invalid=[invalid] aria-describedby=[described] {
                    @for (option, shown) in options { option value=(option) selected[value == *option] { (shown) } }
                }
            },
            Input::Check => html! {
                label.check for=(id) {
                    input id=(id) name=(name) type="checkbox" value="yes" checked[self.values.contains_key(name)]
                        aria-invalid=[invalid] aria-describedby=[described];
                    " " (field.label)
                }
            },
            Input::Checks(options) => html! {
                fieldset aria-describedby=[described] {
                    legend { (field.label) }
                    @for (option, shown) in options {
                        @let key = format!("{name}::{option}");
                        @let option_id = format!("{id}-{option}");
                        label.check for=(option_id) {
                            input id=(option_id) name=(key) type="checkbox" value="yes" checked[self.values.contains_key(&key)];
                            " " (shown)
                        }
                    }
                }
            },
        };
        html! {
            (input)
            @if let Some(error) = error { p.error id=(error_id) { (error) } }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields() -> Vec<Field> {
        vec![
            Field::new("number", "Number", Input::Text),
            Field::new("goals", "Goals", Input::Lines).optional(),
            Field::new("activities[0].content", "Content", Input::Text).optional(),
            Field::new("activities[0].item", "Item", Input::Count).optional(),
            Field::new("activities[1].content", "Content", Input::Text).optional(),
            Field::new("activities[1].item", "Item", Input::Count).optional(),
            Field::new("activities[1].kind", "Kind", Input::Choice(vec![("a", "A".into())])).optional(),
            Field::new(
                "channels",
                "Channels",
                Input::Checks(vec![("hotline", "Hotline".into()), ("box", "Box".into())]),
            ),
        ]
    }

    fn form(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(key, value)| ((*key).to_owned(), (*value).to_owned())).collect()
    }

    #[test]
    fn empty_rows_are_dropped_and_later_rows_renumbered_with_their_form_place_kept() {
        let typed = form(&[
            ("number", " 12/KH "),
            ("goals", "one\n\n two "),
            ("activities[1].content", "Training"),
            ("activities[1].item", "2"),
            ("activities[1].kind", "a"),
            ("channels::box", "yes"),
        ]);
        let (value, renames) = read(&fields(), &typed).expect("reads");
        assert_eq!(
            value,
            serde_json::json!({
                "number": "12/KH", "goals": ["one", "two"],
                "activities": [{"content": "Training", "item": 2, "kind": "a"}],
                "channels": ["box"],
            })
        );
        assert_eq!(form_place("record.activities[0].item", &renames), "activities[1].item");
        assert_eq!(form_place("number", &renames), "number");
    }

    #[test]
    fn a_negative_or_wordy_count_is_refused_at_its_field() {
        let typed = form(&[("number", "1"), ("activities[0].item", "-3")]);
        let error = read(&fields(), &typed).expect_err("negative");
        assert_eq!(error.field, "activities[0].item");
        assert!(matches!(*error.reason, Reason::NegativeCount { .. }));
        let typed = form(&[("number", "1"), ("activities[0].item", "ba")]);
        assert!(matches!(*read(&fields(), &typed).expect_err("words").reason, Reason::NotAWholeNumber { .. }));
    }

    #[test]
    fn a_choice_from_outside_its_list_is_refused_at_its_field() {
        let typed = form(&[("number", "1"), ("activities[1].content", "x"), ("activities[1].kind", "<script>")]);
        let error = read(&fields(), &typed).expect_err("not a choice");
        assert_eq!(error.field, "activities[1].kind", "named as the form has it");
        assert!(matches!(*error.reason, Reason::UnknownValue { .. }), "{error:?}");
    }

    #[test]
    fn a_problem_is_drawn_next_to_its_field_and_only_there() {
        let values = form(&[("number", "x")]);
        let problem = FormProblem {
            field: Some("record.activities[1].item".into()),
            message: "activities[1].item: NOT A NUMBER".into(),
            reason: Some("NOT A NUMBER".into()),
        };
        let view = FormView { language: Language::English, values: &values, problem: Some(&problem) };
        let drawn: Vec<String> = fields().iter().map(|field| view.field(field).into_string()).collect();
        let showing: Vec<usize> = (0..drawn.len()).filter(|index| drawn[*index].contains("NOT A NUMBER")).collect();
        assert_eq!(showing, vec![5]);
        assert_eq!(view.unplaced(&["number", "activities[1].item"]), None);
        assert_eq!(view.unplaced(&["number"]).as_deref(), Some("activities[1].item: NOT A NUMBER"));
    }
}
