//! OVSDB values in their JSON form (RFC 7047 §5.1): atoms (integer, real, boolean,
//! string, `["uuid", U]`), sets (`["set", [...]]`, or a lone atom for a set of one) and
//! maps (`["map", [[k, v], ...]]`). Readers are lenient (a value of the wrong shape
//! reads as absent or empty), so that one bad column never stops the daemon; writers
//! build exactly what the server expects.

use std::collections::BTreeMap;

use serde_json::{json, Value};

/// A row's UUID, as the server spells it.
pub type Uuid = String;

/// The elements of a set column (an atom alone is a set of one).
pub fn set_items(v: &Value) -> Vec<&Value> {
    match v.as_array().map(Vec::as_slice) {
        Some([tag, Value::Array(items)]) if tag == "set" => items.iter().collect(),
        _ if v.is_null() => Vec::new(),
        _ => vec![v],
    }
}

/// The pairs of a map column.
pub fn map_pairs(v: &Value) -> Vec<(&Value, &Value)> {
    match v.as_array().map(Vec::as_slice) {
        Some([tag, Value::Array(pairs)]) if tag == "map" => pairs
            .iter()
            .filter_map(|p| match p.as_array().map(Vec::as_slice) {
                Some([k, v]) => Some((k, v)),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// A map of strings to strings (`options`, `other_config`, `external_ids`).
pub fn string_map(v: &Value) -> BTreeMap<String, String> {
    map_pairs(v)
        .into_iter()
        .filter_map(|(k, v)| Some((k.as_str()?.to_string(), v.as_str()?.to_string())))
        .collect()
}

/// A `["uuid", U]` atom.
pub fn uuid(v: &Value) -> Option<Uuid> {
    match v.as_array().map(Vec::as_slice) {
        Some([tag, Value::String(u)]) if tag == "uuid" => Some(u.clone()),
        _ => None,
    }
}

/// The UUIDs of a set of references (`Bridge.ports`, `Port.interfaces`, ...).
pub fn uuid_set(v: &Value) -> Vec<Uuid> {
    set_items(v).into_iter().filter_map(uuid).collect()
}

/// An optional integer (a set of at most one integer: `Port.tag`, `ofport_request`).
pub fn opt_integer(v: &Value) -> Option<i64> {
    set_items(v).first().and_then(|a| a.as_i64())
}

/// A set of integers (`Port.trunks`).
pub fn integer_set(v: &Value) -> Vec<i64> {
    set_items(v).into_iter().filter_map(Value::as_i64).collect()
}

/// An optional string (`Port.vlan_mode`, `Bridge.fail_mode`).
pub fn opt_string(v: &Value) -> Option<String> {
    set_items(v)
        .first()
        .and_then(|a| a.as_str())
        .map(str::to_string)
}

/// A set of strings (`Bridge.protocols`).
pub fn string_set(v: &Value) -> Vec<String> {
    set_items(v)
        .into_iter()
        .filter_map(|a| a.as_str().map(str::to_string))
        .collect()
}

/// `["uuid", U]`.
pub fn uuid_atom(u: &str) -> Value {
    json!(["uuid", u])
}

/// A set column's value: `["set", [...]]` (the empty set included).
pub fn set_of(items: Vec<Value>) -> Value {
    json!(["set", items])
}

/// A map column's value from string pairs.
pub fn map_of<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Value {
    let pairs: Vec<Value> = pairs.into_iter().map(|(k, v)| json!([k, v])).collect();
    json!(["map", pairs])
}

/// An optional string column: the string, or the empty set.
pub fn opt_string_value(s: Option<&str>) -> Value {
    match s {
        Some(s) => json!(s),
        None => set_of(Vec::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_of_one_are_atoms() {
        assert_eq!(opt_integer(&json!(5)), Some(5));
        assert_eq!(opt_integer(&json!(["set", []])), None);
        assert_eq!(integer_set(&json!(["set", [1, 4095]])), vec![1, 4095]);
        assert_eq!(integer_set(&json!(7)), vec![7]);
        assert_eq!(uuid_set(&json!(["uuid", "a"])), vec!["a".to_string()]);
        assert_eq!(
            uuid_set(&json!(["set", [["uuid", "a"], ["uuid", "b"]]])),
            vec!["a".to_string(), "b".to_string()]
        );
        assert_eq!(opt_string(&json!("secure")), Some("secure".into()));
        assert_eq!(opt_string(&json!(["set", []])), None);
    }

    #[test]
    fn maps() {
        let m = string_map(&json!(["map", [["peer", "patch-int"], ["x", 1]]]));
        assert_eq!(m.len(), 1);
        assert_eq!(m["peer"], "patch-int");
        assert!(string_map(&json!("nonsense")).is_empty());
        assert_eq!(map_of([("a", "b")]), json!(["map", [["a", "b"]]]));
    }

    #[test]
    fn wrong_shapes_read_as_absent() {
        assert_eq!(uuid(&json!(["named-uuid", "x"])), None);
        assert_eq!(opt_integer(&json!("five")), None);
        assert!(uuid_set(&json!({"a": 1})).is_empty());
    }
}
