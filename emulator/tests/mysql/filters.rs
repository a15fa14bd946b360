//! The filter grammar: operators, quoted values, logic trees, and grammar errors.

use reqwest::Method;
use serde_json::Value;

use crate::common::envelope;
use crate::helpers::{KEY, names, rest, start};

#[tokio::test]
async fn filter_grammar() {
    let emu = start().await;
    let all = ["Ann", "Bob", "bob", "Zoë \"Z\"", "Carl"];
    assert_eq!(names(&emu, &[]).await, all);
    assert_eq!(names(&emu, &[("age", "gt.18")]).await, ["Bob", "bob", "Zoë \"Z\""]);
    // Numeric comparison, not text: 9 < 30 numerically but "9" > "30" as text.
    assert_eq!(names(&emu, &[("age", "lt.9")]).await, Vec::<String>::new());
    assert_eq!(names(&emu, &[("age", "gte.30"), ("age", "lte.45")]).await, ["Bob", "bob"]);
    assert_eq!(names(&emu, &[("name", "neq.Bob")]).await, ["Ann", "bob", "Zoë \"Z\"", "Carl"]);
    assert_eq!(names(&emu, &[("score", "gt.2.4")]).await, ["Bob", "Zoë \"Z\"", "Carl"]);
    // Values with dots, commas, parentheses, quotes, percent signs and unicode.
    assert_eq!(names(&emu, &[("note", "eq.x.y")]).await, ["Carl"]);
    assert_eq!(names(&emu, &[("note", "eq.Bob, Jr. (admin)")]).await, ["Bob"]);
    assert_eq!(names(&emu, &[("name", "eq.Zoë \"Z\"")]).await, ["Zoë \"Z\""]);
    assert_eq!(names(&emu, &[("note", "eq.50% off")]).await, ["bob"]);
    // like is case-sensitive, ilike is not; `*` is a wildcard too.
    assert_eq!(names(&emu, &[("name", "like.b%")]).await, ["bob"]);
    assert_eq!(names(&emu, &[("name", "ilike.b*")]).await, ["Bob", "bob"]);
    assert_eq!(names(&emu, &[("name", "ilike.ZOË*")]).await, ["Zoë \"Z\""]);
    assert_eq!(names(&emu, &[("name", "not.like.*o*")]).await, ["Ann", "Carl"]);
    // match / imatch are regular expressions.
    assert_eq!(names(&emu, &[("name", "match.^[A-Z][a-z]+$")]).await, ["Ann", "Bob", "Carl"]);
    assert_eq!(names(&emu, &[("name", "imatch.^B.B$")]).await, ["Bob", "bob"]);
    // in: PostgREST lists, the vendor's bracket form, quoted items.
    assert_eq!(names(&emu, &[("id", "in.(1,3)")]).await, ["Ann", "bob"]);
    assert_eq!(names(&emu, &[("id", "in.[2,4]")]).await, ["Bob", "Zoë \"Z\""]);
    assert_eq!(names(&emu, &[("note", "in.(\"a,b\",\"Bob, Jr. (admin)\",x.y)")]).await, ["Ann", "Bob", "Carl"]);
    assert_eq!(names(&emu, &[("name", "in.(\"Zoë \\\"Z\\\"\")")]).await, ["Zoë \"Z\""]);
    assert_eq!(names(&emu, &[("id", "not.in.(1,2,3)")]).await, ["Zoë \"Z\"", "Carl"]);
    assert_eq!(names(&emu, &[("id", "in.()")]).await, Vec::<String>::new());
    // is
    assert_eq!(names(&emu, &[("age", "is.null")]).await, ["Carl"]);
    assert_eq!(names(&emu, &[("note", "not.is.null"), ("age", "not.is.unknown")]).await, ["Ann", "Bob", "bob"]);
    emu.sql("CREATE TABLE flags (n TEXT, on_ INTEGER); INSERT INTO flags VALUES ('t', 1), ('f', 0), ('n', NULL);")
        .unwrap();
    let flags = |q: &'static str| {
        let emu = emu.clone();
        async move {
            let rows: Vec<Value> =
                rest(&emu, Method::GET, "flags", KEY).query(&[("on_", q)]).send().await.unwrap().json().await.unwrap();
            rows.iter().map(|r| r["n"].as_str().unwrap().to_owned()).collect::<Vec<_>>()
        }
    };
    assert_eq!(flags("is.true").await, ["t"]);
    assert_eq!(flags("is.false").await, ["f"]);
    assert_eq!(flags("not.is.true").await, ["f", "n"]);
    // Logic trees.
    assert_eq!(names(&emu, &[("or", "(age.lt.18,age.gt.65)")]).await, ["Ann", "Zoë \"Z\""]);
    assert_eq!(names(&emu, &[("and", "(age.gt.18,age.lt.65)")]).await, ["Bob", "bob"]);
    assert_eq!(names(&emu, &[("not.or", "(age.lt.18,age.gt.65,age.is.null)")]).await, ["Bob", "bob"]);
    // SQL's three-valued logic: NOT (NULL AND NULL) is NULL, so Carl (no age) is not listed.
    assert_eq!(names(&emu, &[("not.and", "(age.gt.18,age.lt.65)")]).await, ["Ann", "Zoë \"Z\""]);
    assert_eq!(
        names(
            &emu,
            &[(
                "or",
                "(name.eq.Ann,and(age.gte.40,not.or(note.is.null,note.eq.\"a,b\")),note.eq.\"Bob, Jr. (admin)\")"
            )]
        )
        .await,
        ["Ann", "Bob", "bob"]
    );
    assert_eq!(names(&emu, &[("or", "(note.eq.x.y,id.in.(1,2))"), ("id", "neq.2")]).await, ["Ann", "Carl"]);
    assert_eq!(names(&emu, &[("or", "(name.like.Zo*,name.ilike.*ANN*)")]).await, ["Ann", "Zoë \"Z\""]);
    // Grammar errors.
    for bad in [
        ("age", "gtx.1"),
        ("age", "cs.{1}"),
        ("age", "18"),
        ("or", "age.eq.1"),
        ("or", "(age.eq.1"),
        ("note", "in.(\"a)"),
        ("limit", "-1"),
        ("offset", "two"),
        ("select", "id,teams(name)"),
        ("order", "age.upward"),
        ("nope", "eq.1"),
        ("select", "nope"),
        ("order", "nope.asc"),
        ("or", "(nope.eq.1)"),
    ] {
        let response = rest(&emu, Method::GET, "users", KEY).query(&[bad]).send().await.unwrap();
        envelope(response, 400, "INVALID_PARAM").await;
    }
    let deep = format!("({}age.eq.1{})", "or(".repeat(20), ")".repeat(20));
    envelope(rest(&emu, Method::GET, "users", KEY).query(&[("or", deep)]).send().await.unwrap(), 400, "INVALID_PARAM")
        .await;
    let many = format!("({})", vec!["age.eq.1"; 250].join(","));
    envelope(rest(&emu, Method::GET, "users", KEY).query(&[("or", many)]).send().await.unwrap(), 400, "INVALID_PARAM")
        .await;
    // A bad regular expression is an SQL error.
    let response = rest(&emu, Method::GET, "users", KEY).query(&[("name", "match.(")]).send().await.unwrap();
    envelope(response, 400, "INVALID_REQUEST").await;
}
