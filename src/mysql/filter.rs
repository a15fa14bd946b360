//! Filters: a typed tree, encoded exactly as the PostgREST grammar of `openapi/mysql.yaml` requires, and the
//! query parameters that carry them.

use std::fmt::{self, Write as _};

use serde::ser::{Serialize, SerializeMap, Serializer};

use crate::Error;

/// The most terms and the deepest nesting a filter may have (a bound the service also enforces).
const MAX_TERMS: usize = 200;
const MAX_DEPTH: usize = 16;

/// A comparison operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Op {
    /// `=`
    Eq,
    /// `!=`
    Neq,
    /// `>`
    Gt,
    /// `>=`
    Gte,
    /// `<`
    Lt,
    /// `<=`
    Lte,
    /// `LIKE` (`%` and `_` wildcards; case-sensitive).
    Like,
    /// Case-insensitive `LIKE`.
    Ilike,
    /// Matches a regular expression (`REGEXP`).
    Match,
    /// Matches a regular expression, case-insensitively.
    Imatch,
    /// In a list of values.
    In,
    /// `IS` `null`, `true`, `false` or `unknown`.
    Is,
}

impl Op {
    /// The operator's name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Eq => "eq",
            Op::Neq => "neq",
            Op::Gt => "gt",
            Op::Gte => "gte",
            Op::Lt => "lt",
            Op::Lte => "lte",
            Op::Like => "like",
            Op::Ilike => "ilike",
            Op::Match => "match",
            Op::Imatch => "imatch",
            Op::In => "in",
            Op::Is => "is",
        }
    }

    pub(crate) fn parse(name: &str) -> Option<Op> {
        [Op::Eq, Op::Neq, Op::Gt, Op::Gte, Op::Lt, Op::Lte, Op::Like, Op::Ilike, Op::Match, Op::Imatch, Op::In, Op::Is]
            .into_iter()
            .find(|op| op.as_str() == name)
    }
}

/// What `is` compares with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IsValue {
    /// `IS NULL`.
    Null,
    /// `IS TRUE`.
    True,
    /// `IS FALSE`.
    False,
    /// `IS UNKNOWN` (null for booleans).
    Unknown,
}

impl IsValue {
    fn as_str(self) -> &'static str {
        match self {
            IsValue::Null => "null",
            IsValue::True => "true",
            IsValue::False => "false",
            IsValue::Unknown => "unknown",
        }
    }

    /// The value `text` names (`null`, `true`, `false`, `unknown`).
    pub(crate) fn parse(text: &str) -> Result<Self, Error> {
        [IsValue::Null, IsValue::True, IsValue::False, IsValue::Unknown]
            .into_iter()
            .find(|v| v.as_str() == text)
            .ok_or_else(|| Error::invalid("filter", format!("`is` takes null, true, false or unknown, not {text:?}")))
    }
}

impl From<IsValue> for Literal {
    fn from(value: IsValue) -> Self {
        Literal(value.as_str().to_owned())
    }
}

/// A value in a filter: text, a number or a boolean, written as the grammar wants it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Literal(pub(crate) String);

impl fmt::Display for Literal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

macro_rules! literal_from_display {
    ($($t:ty),*) => {$(
        impl From<$t> for Literal {
            fn from(value: $t) -> Self {
                Literal(value.to_string())
            }
        }
    )*};
}

literal_from_display!(
    &str, String, &String, char, bool, i8, i16, i32, i64, i128, isize, u8, u16, u32, u64, u128, usize, f32, f64
);

/// One filter: a comparison, or a group of filters joined by AND or OR, possibly negated.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Filter {
    Cond { column: String, op: Op, negated: bool, value: CondValue },
    Group { or: bool, negated: bool, items: Vec<Filter> },
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum CondValue {
    One(String),
    List(Vec<String>),
}

/// A group of filters being built for [`or`](super::Filterable::or) / [`and`](super::Filterable::and):
/// the same filter methods, collected instead of applied.
#[derive(Clone, Debug, Default)]
#[must_use]
pub struct Group {
    pub(crate) set: super::FilterSet,
}

impl super::Filterable for Group {
    fn filter_set(&mut self) -> &mut super::FilterSet {
        &mut self.set
    }
}

/// Checks a column (or table) name: letters, digits, `_` and `$`, not starting with a digit: what MySQL takes
/// unquoted, and nothing the grammar gives a meaning (`.`, `,`, `(`, `)`, `:`, `=`, `&`, quotes, spaces).
pub(crate) fn identifier(field: &'static str, name: &str) -> Result<(), Error> {
    let mut chars = name.chars();
    let valid_first = chars.next().is_some_and(|c| c.is_alphabetic() || c == '_' || c == '$');
    if !valid_first || !chars.all(|c| c.is_alphanumeric() || c == '_' || c == '$') || name.len() > 64 {
        return Err(Error::invalid(
            field,
            format!("{name:?} is not a plain identifier (letters, digits, `_`, `$`; at most 64 bytes)"),
        ));
    }
    Ok(())
}

/// A value inside `(...)`: double-quoted (with `\` escapes) when it holds a character the grammar reads
/// (`,` `(` `)` `"` `\` `.` `:`), spaces at its ends, or nothing at all; as is otherwise.
fn push_quoted(out: &mut String, value: &str) {
    let needs = value.is_empty()
        || value.starts_with(char::is_whitespace)
        || value.ends_with(char::is_whitespace)
        || value.contains([',', '(', ')', '"', '\\', '.', ':']);
    if !needs {
        out.push_str(value);
        return;
    }
    out.push('"');
    for c in value.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
}

fn push_list(out: &mut String, items: &[String]) {
    out.push('(');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_quoted(out, item);
    }
    out.push(')');
}

impl Filter {
    fn count(&self, depth: usize) -> Result<usize, Error> {
        if depth > MAX_DEPTH {
            return Err(Error::invalid("filter", format!("nested deeper than {MAX_DEPTH} groups")));
        }
        match self {
            Filter::Cond { .. } => Ok(1),
            Filter::Group { items, .. } => {
                if items.is_empty() {
                    return Err(Error::invalid("filter", "an `or`/`and` group without any filter"));
                }
                items.iter().try_fold(0, |n, item| Ok(n + item.count(depth + 1)?))
            }
        }
    }

    /// `op.value` of a comparison (`not.` first when negated).
    fn push_operation(out: &mut String, op: Op, negated: bool, value: &CondValue, quoted: bool) {
        if negated {
            out.push_str("not.");
        }
        out.push_str(op.as_str());
        out.push('.');
        match value {
            CondValue::List(items) => push_list(out, items),
            CondValue::One(value) if quoted => push_quoted(out, value),
            CondValue::One(value) => out.push_str(value),
        }
    }

    /// A term inside a group: `column.op.value`, or a nested `or(...)`.
    fn push_term(&self, out: &mut String) {
        match self {
            Filter::Cond { column, op, negated, value } => {
                out.push_str(column);
                out.push('.');
                Self::push_operation(out, *op, *negated, value, true);
            }
            Filter::Group { or, negated, items } => {
                if *negated {
                    out.push_str("not.");
                }
                out.push_str(if *or { "or" } else { "and" });
                Self::push_items(out, items);
            }
        }
    }

    fn push_items(out: &mut String, items: &[Filter]) {
        out.push('(');
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            item.push_term(out);
        }
        out.push(')');
    }

    /// The query parameter of a top-level filter: (`column`, `op.value`) or (`or`, `(terms)`).
    pub(crate) fn param(&self) -> (String, String) {
        let mut value = String::new();
        match self {
            Filter::Cond { column, op, negated, value: v } => {
                Self::push_operation(&mut value, *op, *negated, v, false);
                (column.clone(), value)
            }
            Filter::Group { or, negated, items } => {
                let mut key = String::new();
                if *negated {
                    key.push_str("not.");
                }
                key.push_str(if *or { "or" } else { "and" });
                Self::push_items(&mut value, items);
                (key, value)
            }
        }
    }
}

/// The filter query parameters of one request, in order; a name may repeat (repeated parameters are ANDed).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filters(pub(crate) Vec<(String, String)>);

impl Filters {
    pub(crate) fn from_filters(filters: &[Filter]) -> Result<Self, Error> {
        let terms = filters.iter().try_fold(0, |n, f| Ok::<_, Error>(n + f.count(1)?))?;
        if terms > MAX_TERMS {
            return Err(Error::invalid("filter", format!("{terms} terms, over the limit of {MAX_TERMS}")));
        }
        Ok(Filters(filters.iter().map(Filter::param).collect()))
    }

    /// True without any filter.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The parameters as `name=value` pairs (not yet form-encoded), in order.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.0
    }
}

impl fmt::Display for Filters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (name, value)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_char('&')?;
            }
            write!(f, "{name}={value}")?;
        }
        Ok(())
    }
}

impl Serialize for Filters {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (name, value) in &self.0 {
            map.serialize_entry(name, value)?;
        }
        map.end()
    }
}

pub(crate) fn cond(column: &str, op: Op, negated: bool, value: CondValue) -> Result<Filter, Error> {
    identifier("column", column)?;
    Ok(Filter::Cond { column: column.to_owned(), op, negated, value })
}

pub(crate) fn is_value(value: IsValue) -> CondValue {
    CondValue::One(value.as_str().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(v: &str) -> CondValue {
        CondValue::One(v.to_owned())
    }

    #[test]
    fn top_level_values_are_verbatim_and_group_values_quoted() {
        let f = cond("name", Op::Eq, false, one("Bob, Jr.")).unwrap();
        assert_eq!(f.param(), ("name".into(), "eq.Bob, Jr.".into()));
        let group = Filter::Group {
            or: true,
            negated: false,
            items: vec![
                cond("name", Op::Eq, false, one("Bob, Jr.")).unwrap(),
                cond("age", Op::Gt, true, one("18")).unwrap(),
                Filter::Group { or: false, negated: true, items: vec![cond("x", Op::Is, false, one("null")).unwrap()] },
            ],
        };
        assert_eq!(group.param(), ("or".into(), r#"(name.eq."Bob, Jr.",age.not.gt.18,not.and(x.is.null))"#.into()));
        let list = cond("id", Op::In, false, CondValue::List(vec!["1".into(), "a\"b".into(), String::new()])).unwrap();
        assert_eq!(list.param(), ("id".into(), r#"in.(1,"a\"b","")"#.into()));
        let back = cond("p", Op::Eq, false, one(r"a\b")).unwrap();
        let g = Filter::Group { or: false, negated: false, items: vec![back] };
        assert_eq!(g.param().1, r#"(p.eq."a\\b")"#);
    }

    #[test]
    fn identifiers() {
        for good in ["id", "_x", "user_name2", "$a", "名字"] {
            assert!(identifier("c", good).is_ok(), "{good}");
        }
        for bad in ["", "1a", "a.b", "a,b", "a b", "a(b", "a\"", "a=b", "a;drop", &"x".repeat(65)] {
            assert!(identifier("c", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn limits() {
        let mut deep = cond("a", Op::Eq, false, one("1")).unwrap();
        for _ in 0..MAX_DEPTH {
            deep = Filter::Group { or: true, negated: false, items: vec![deep] };
        }
        assert!(Filters::from_filters(&[deep]).is_err());
        let many: Vec<_> = (0..=MAX_TERMS).map(|_| cond("a", Op::Eq, false, one("1")).unwrap()).collect();
        assert!(Filters::from_filters(&many).is_err());
        assert!(Filters::from_filters(&[Filter::Group { or: true, negated: false, items: vec![] }]).is_err());
    }
}
