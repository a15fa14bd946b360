//! The query-string grammar of the MySQL RESTful API (a PostgREST dialect): `select`, `order`, `limit`,
//! `offset`, `on_conflict`, `columns`, column filters `col=[not.]op.value` and the logic trees `or=(...)`,
//! `and=(...)`, `not.or=(...)`, `not.and=(...)` with nested `or(...)` / `and(...)` terms.
//!
//! Parsing is purely syntactic: column names are checked against the live table later, and values are
//! never put into SQL (they become bound parameters).

/// Deepest nesting of logic trees accepted (the top-level `or=(...)` is depth 1).
pub(crate) const MAX_DEPTH: usize = 16;
/// Most filter and logic terms in one request.
pub(crate) const MAX_TERMS: usize = 200;

/// A filter operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Op {
    Eq,
    Neq,
    Gt,
    Gte,
    Lt,
    Lte,
    Like,
    Ilike,
    Match,
    Imatch,
    In,
    Is,
}

impl Op {
    fn parse(name: &str) -> Option<Op> {
        Some(match name {
            "eq" => Op::Eq,
            "neq" => Op::Neq,
            "gt" => Op::Gt,
            "gte" => Op::Gte,
            "lt" => Op::Lt,
            "lte" => Op::Lte,
            "like" => Op::Like,
            "ilike" => Op::Ilike,
            "match" => Op::Match,
            "imatch" => Op::Imatch,
            "in" => Op::In,
            "is" => Op::Is,
            _ => return None,
        })
    }
}

/// The right-hand side of `is`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum IsValue {
    /// `null` and `unknown`.
    Null,
    True,
    False,
}

/// What a filter compares the column with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Operand {
    Value(String),
    List(Vec<String>),
    Is(IsValue),
}

/// `column [not] op operand`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Filter {
    pub column: String,
    pub negated: bool,
    pub op: Op,
    pub operand: Operand,
}

/// A condition: a filter or an `and`/`or` of conditions, possibly negated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Cond {
    Filter(Filter),
    Logic { negated: bool, or: bool, items: Vec<Cond> },
}

/// One item of `select`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum SelectItem {
    Star,
    Column { alias: Option<String>, column: String },
}

/// One item of `order`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Order {
    pub column: String,
    pub desc: bool,
    /// `Some(true)`: nulls first; `Some(false)`: nulls last; `None`: the database's default.
    pub nulls_first: Option<bool>,
}

/// A parsed query string.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Query {
    /// Empty: `*`.
    pub select: Vec<SelectItem>,
    pub order: Vec<Order>,
    pub limit: Option<u64>,
    pub offset: Option<u64>,
    pub on_conflict: Option<Vec<String>>,
    pub columns: Option<Vec<String>>,
    /// ANDed together.
    pub filters: Vec<Cond>,
}

struct Budget {
    terms: usize,
}

impl Budget {
    fn spend(&mut self) -> Result<(), String> {
        self.terms += 1;
        if self.terms > MAX_TERMS {
            return Err(format!("too many filter terms (at most {MAX_TERMS})"));
        }
        Ok(())
    }
}

/// Parses the decoded query pairs.
pub(crate) fn parse(pairs: &[(String, String)]) -> Result<Query, String> {
    let mut query = Query::default();
    let mut budget = Budget { terms: 0 };
    for (key, value) in pairs {
        match key.as_str() {
            "select" => query.select = parse_select(value)?,
            "order" => query.order = parse_order(value)?,
            "limit" => query.limit = Some(parse_count("limit", value)?),
            "offset" => query.offset = Some(parse_count("offset", value)?),
            "on_conflict" => query.on_conflict = Some(parse_names("on_conflict", value)?),
            "columns" => query.columns = Some(parse_names("columns", value)?),
            "or" | "and" | "not.or" | "not.and" => {
                budget.spend()?;
                let negated = key.starts_with("not.");
                let or = key.ends_with("or");
                let inner = enclosed(value, '(', ')')
                    .ok_or_else(|| format!("{key} takes a parenthesised list: {key}=(a.eq.1,b.eq.2)"))?;
                query.filters.push(parse_logic(negated, or, inner, 1, &mut budget)?);
            }
            column => {
                budget.spend()?;
                if column.is_empty() {
                    return Err("a filter without a column name".to_owned());
                }
                query.filters.push(Cond::Filter(parse_filter(column, value, false)?));
            }
        }
    }
    Ok(query)
}

fn parse_count(name: &str, value: &str) -> Result<u64, String> {
    value.trim().parse().map_err(|_| format!("{name} must be a non-negative integer, not {value:?}"))
}

/// `a,b` or `"a","b"`: a comma list of (possibly quoted) names.
fn parse_names(name: &str, value: &str) -> Result<Vec<String>, String> {
    let names: Vec<String> = split_top(value)?.into_iter().map(|n| unquote(n.trim())).collect();
    if names.iter().any(String::is_empty) {
        return Err(format!("{name}: empty column name in {value:?}"));
    }
    Ok(names)
}

/// The inside of `open ... close` when `value` is exactly that.
fn enclosed(value: &str, open: char, close: char) -> Option<&str> {
    value.strip_prefix(open)?.strip_suffix(close)
}

/// `[not.]op.value`; inside logic lists a value may be double-quoted.
fn parse_filter(column: &str, value: &str, in_list: bool) -> Result<Filter, String> {
    let (negated, rest) = match value.strip_prefix("not.") {
        Some(rest) => (true, rest),
        None => (false, value),
    };
    let (op_name, operand) =
        rest.split_once('.').ok_or_else(|| format!("filter on {column}: expected op.value, got {value:?}"))?;
    let op = Op::parse(op_name).ok_or_else(|| format!("filter on {column}: unknown operator {op_name:?}"))?;
    let operand = match op {
        Op::In => {
            let inner = enclosed(operand, '(', ')')
                .or_else(|| enclosed(operand, '[', ']'))
                .ok_or_else(|| format!("filter on {column}: in takes a list: in.(1,2) or in.[1,2], got {operand:?}"))?;
            if inner.trim().is_empty() {
                Operand::List(Vec::new())
            } else {
                Operand::List(split_top(inner)?.into_iter().map(unquote).collect())
            }
        }
        Op::Is => Operand::Is(match operand.to_ascii_lowercase().as_str() {
            "null" | "unknown" => IsValue::Null,
            "true" => IsValue::True,
            "false" => IsValue::False,
            other => return Err(format!("filter on {column}: is takes null, unknown, true or false, not {other:?}")),
        }),
        _ if in_list => Operand::Value(unquote(operand)),
        _ => Operand::Value(operand.to_owned()),
    };
    Ok(Filter { column: column.to_owned(), negated, op, operand })
}

fn parse_logic(negated: bool, or: bool, inner: &str, depth: usize, budget: &mut Budget) -> Result<Cond, String> {
    if depth > MAX_DEPTH {
        return Err(format!("logic trees nested deeper than {MAX_DEPTH} levels"));
    }
    let mut items = Vec::new();
    if !inner.trim().is_empty() {
        for term in split_top(inner)? {
            budget.spend()?;
            items.push(parse_term(term, depth, budget)?);
        }
    }
    Ok(Cond::Logic { negated, or, items })
}

/// One term of a logic list: a nested tree or `column.[not.]op.value`.
fn parse_term(term: &str, depth: usize, budget: &mut Budget) -> Result<Cond, String> {
    let (negated, body) = match term.strip_prefix("not.") {
        Some(rest) if rest.starts_with("or(") || rest.starts_with("and(") => (true, rest),
        _ => (false, term),
    };
    for (prefix, or) in [("or", true), ("and", false)] {
        if let Some(inner) = body.strip_prefix(prefix).and_then(|r| enclosed(r, '(', ')')) {
            return parse_logic(negated, or, inner, depth + 1, budget);
        }
    }
    let (column, rest) =
        term.split_once('.').ok_or_else(|| format!("logic term {term:?}: expected column.op.value"))?;
    if column.is_empty() {
        return Err(format!("logic term {term:?}: no column name"));
    }
    Ok(Cond::Filter(parse_filter(column, rest, true)?))
}

/// Splits at the commas outside double quotes and outside `()`/`[]`. Inside quotes `\` escapes the next
/// character.
fn split_top(s: &str) -> Result<Vec<&str>, String> {
    let mut parts = Vec::new();
    let (mut depth, mut quoted, mut escaped, mut start) = (0usize, false, false, 0);
    for (i, c) in s.char_indices() {
        if quoted {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => quoted = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => quoted = true,
            '(' | '[' => depth += 1,
            ')' | ']' => depth = depth.checked_sub(1).ok_or_else(|| format!("unbalanced parentheses in {s:?}"))?,
            ',' if depth == 0 => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if quoted {
        return Err(format!("unterminated double quote in {s:?}"));
    }
    if depth != 0 {
        return Err(format!("unbalanced parentheses in {s:?}"));
    }
    parts.push(&s[start..]);
    Ok(parts)
}

/// `"..."` with `\"` and `\\` (any `\x` is `x`) becomes its content; anything else is taken as is.
fn unquote(s: &str) -> String {
    let Some(inner) = s.strip_prefix('"').and_then(|r| r.strip_suffix('"')) else { return s.to_owned() };
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(next) = chars.next() {
                out.push(next);
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Removes whitespace outside double quotes (what the JS client does too).
fn strip_spaces(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut quoted = false;
    for c in s.chars() {
        if c == '"' {
            quoted = !quoted;
        }
        if quoted || !c.is_whitespace() {
            out.push(c);
        }
    }
    out
}

fn parse_select(value: &str) -> Result<Vec<SelectItem>, String> {
    let value = strip_spaces(value);
    if value.is_empty() || value == "*" {
        return Ok(Vec::new());
    }
    let mut items = Vec::new();
    for item in split_top(&value)? {
        if item == "*" {
            items.push(SelectItem::Star);
            continue;
        }
        if item.contains('(') || item.contains('!') {
            return Err(format!("select {item:?}: embedding not supported (resources cannot be embedded)"));
        }
        let (alias, column) = match item.split_once(':') {
            Some((alias, column)) if !alias.starts_with('"') => (Some(unquote(alias)), unquote(column)),
            _ => (None, unquote(item)),
        };
        if column.is_empty() || alias.as_deref() == Some("") {
            return Err(format!("select: empty column or alias in {item:?}"));
        }
        items.push(SelectItem::Column { alias, column });
    }
    Ok(items)
}

fn parse_order(value: &str) -> Result<Vec<Order>, String> {
    let value = strip_spaces(value);
    let mut orders = Vec::new();
    for item in split_top(&value)? {
        let mut parts = item.split('.');
        let column = unquote(parts.next().unwrap_or_default());
        if column.is_empty() {
            return Err(format!("order: empty column in {item:?}"));
        }
        let mut order = Order { column, desc: false, nulls_first: None };
        for modifier in parts {
            match modifier {
                "asc" => order.desc = false,
                "desc" => order.desc = true,
                "nullsfirst" => order.nulls_first = Some(true),
                "nullslast" => order.nulls_first = Some(false),
                other => return Err(format!("order: unknown modifier {other:?} in {item:?}")),
            }
        }
        orders.push(order);
    }
    Ok(orders)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> Result<Query, String> {
        let pairs: Vec<_> = pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        parse(&pairs)
    }

    fn filter(column: &str, negated: bool, op: Op, value: &str) -> Cond {
        Cond::Filter(Filter { column: column.into(), negated, op, operand: Operand::Value(value.into()) })
    }

    #[test]
    fn top_level_values_split_at_the_first_dot_after_the_operator() {
        let query = q(&[("name", "eq.a.b"), ("note", "not.like.50%.*"), ("n", "gt.1.5")]).unwrap();
        assert_eq!(query.filters[0], filter("name", false, Op::Eq, "a.b"));
        assert_eq!(query.filters[1], filter("note", true, Op::Like, "50%.*"));
        assert_eq!(query.filters[2], filter("n", false, Op::Gt, "1.5"));
        // Quotes are literal at the top level.
        assert_eq!(q(&[("n", "eq.\"x\"")]).unwrap().filters[0], filter("n", false, Op::Eq, "\"x\""));
    }

    #[test]
    fn in_lists_quote_and_escape() {
        let query = q(&[("n", r#"in.(a,"b,c","d\"e",f.g,"(h)","\\")"#)]).unwrap();
        let Cond::Filter(f) = &query.filters[0] else { panic!() };
        assert_eq!(
            f.operand,
            Operand::List(vec!["a".into(), "b,c".into(), "d\"e".into(), "f.g".into(), "(h)".into(), "\\".into()])
        );
        let query = q(&[("id", "in.[1,2,3]"), ("x", "in.()")]).unwrap();
        let Cond::Filter(f) = &query.filters[0] else { panic!() };
        assert_eq!(f.operand, Operand::List(vec!["1".into(), "2".into(), "3".into()]));
        let Cond::Filter(f) = &query.filters[1] else { panic!() };
        assert_eq!(f.operand, Operand::List(vec![]));
        // The JS client does not escape a quote inside a quoted item: taken leniently.
        let query = q(&[("n", r#"in.("Zoë "Z" (admin)",Ann)"#)]).unwrap();
        let Cond::Filter(f) = &query.filters[0] else { panic!() };
        assert_eq!(f.operand, Operand::List(vec!["Zoë \"Z\" (admin)".into(), "Ann".into()]));
        assert!(q(&[("n", "in.1,2")]).is_err());
        assert!(q(&[("n", "in.(\"a)")]).is_err());
    }

    #[test]
    fn is_values() {
        for (text, value) in
            [("null", IsValue::Null), ("unknown", IsValue::Null), ("TRUE", IsValue::True), ("false", IsValue::False)]
        {
            let query = q(&[("a", &format!("is.{text}"))]).unwrap();
            let Cond::Filter(f) = &query.filters[0] else { panic!() };
            assert_eq!(f.operand, Operand::Is(value));
        }
        assert!(q(&[("a", "is.maybe")]).is_err());
    }

    #[test]
    fn unknown_operators_and_malformed_filters_fail() {
        assert!(q(&[("a", "cs.{1}")]).unwrap_err().contains("unknown operator"));
        assert!(q(&[("a", "eq")]).is_err());
        assert!(q(&[("a", "")]).is_err());
        assert!(q(&[("", "eq.1")]).is_err());
        assert!(q(&[("or", "a.eq.1")]).is_err());
        assert!(q(&[("or", "(a.eq.1,b)")]).is_err());
        assert!(q(&[("limit", "-1")]).is_err());
        assert!(q(&[("offset", "x")]).is_err());
    }

    #[test]
    fn logic_trees_nest() {
        let query = q(&[("not.or", r#"(a.eq.1,and(b.gt.2,not.or(c.is.null,d.eq."x,y")),e.not.in.(1,"2)"))"#)]).unwrap();
        let Cond::Logic { negated: true, or: true, items } = &query.filters[0] else { panic!("{query:?}") };
        assert_eq!(items[0], filter("a", false, Op::Eq, "1"));
        let Cond::Logic { negated: false, or: false, items: inner } = &items[1] else { panic!() };
        assert_eq!(inner[0], filter("b", false, Op::Gt, "2"));
        let Cond::Logic { negated: true, or: true, items: deepest } = &inner[1] else { panic!() };
        assert_eq!(deepest[1], filter("d", false, Op::Eq, "x,y"));
        let Cond::Filter(f) = &items[2] else { panic!() };
        assert!(f.negated);
        assert_eq!(f.operand, Operand::List(vec!["1".into(), "2)".into()]));
        // In lists a value splits at the first two dots only; unicode and % pass through.
        let query = q(&[("and", "(name.eq.a.b.c,note.like.%é%,x.eq.\"ü.v\")")]).unwrap();
        let Cond::Logic { items, .. } = &query.filters[0] else { panic!() };
        assert_eq!(items[0], filter("name", false, Op::Eq, "a.b.c"));
        assert_eq!(items[1], filter("note", false, Op::Like, "%é%"));
        assert_eq!(items[2], filter("x", false, Op::Eq, "ü.v"));
    }

    #[test]
    fn nesting_and_term_counts_are_bounded() {
        let deep = |n: usize| format!("({}a.eq.1{})", "or(".repeat(n), ")".repeat(n));
        assert!(q(&[("or", &deep(MAX_DEPTH - 1))]).is_ok());
        assert!(q(&[("or", &deep(MAX_DEPTH))]).unwrap_err().contains("deeper"));
        let many = format!("({})", vec!["a.eq.1"; MAX_TERMS].join(","));
        assert!(q(&[("or", &many)]).unwrap_err().contains("too many"));
        let fine = format!("({})", vec!["a.eq.1"; MAX_TERMS - 1].join(","));
        assert!(q(&[("or", &fine)]).is_ok());
    }

    #[test]
    fn select_order_and_names() {
        let query =
            q(&[("select", " id , display : name ,\"my col\",*"), ("order", "a.desc.nullsfirst, b,c.asc.nullslast")])
                .unwrap();
        assert_eq!(
            query.select,
            vec![
                SelectItem::Column { alias: None, column: "id".into() },
                SelectItem::Column { alias: Some("display".into()), column: "name".into() },
                SelectItem::Column { alias: None, column: "my col".into() },
                SelectItem::Star,
            ]
        );
        assert_eq!(
            query.order,
            vec![
                Order { column: "a".into(), desc: true, nulls_first: Some(true) },
                Order { column: "b".into(), desc: false, nulls_first: None },
                Order { column: "c".into(), desc: false, nulls_first: Some(false) },
            ]
        );
        assert!(q(&[("select", "id,teams(name)")]).unwrap_err().contains("embedding"));
        assert!(q(&[("order", "a.sideways")]).is_err());
        let query = q(&[("columns", r#""a","b,c""#), ("on_conflict", "email, id")]).unwrap();
        assert_eq!(query.columns, Some(vec!["a".into(), "b,c".into()]));
        assert_eq!(query.on_conflict, Some(vec!["email".into(), "id".into()]));
        assert_eq!(q(&[("select", "*")]).unwrap().select, vec![]);
    }
}
