//! `--report FILE`: one compact JSON object a command writes at its end, success or failure.
//! The operator passes `/dev/termination-log`, which the kubelet caps at 4096 bytes, so long
//! lists are cut to fit and say how many were left out.

use std::path::Path;

use serde_json::{Value, json};

/// Byte budget of a report.
pub const LIMIT: usize = 4096;

/// Serialize `report`, shortening its longest arrays until it fits in [`LIMIT`].
pub fn render(mut report: Value) -> String {
    loop {
        let text = report.to_string();
        if text.len() <= LIMIT || !shorten_longest_array(&mut report) {
            return text;
        }
    }
}

fn shorten_longest_array(report: &mut Value) -> bool {
    let Some(object) = report.as_object_mut() else {
        return false;
    };
    let longest = object
        .iter()
        .filter_map(|(k, v)| v.as_array().map(|a| (k.clone(), a.len())))
        .filter(|(_, len)| *len > 1)
        .max_by_key(|(_, len)| *len);
    let Some((key, len)) = longest else {
        // Nothing left to cut: shorten the error text instead.
        if let Some(Value::String(error)) = object.get_mut("error")
            && error.len() > 512
        {
            error.truncate(error.floor_char_boundary(512));
            return true;
        }
        return false;
    };
    let omitted_key = format!("{key}Omitted");
    let already = object
        .get(&omitted_key)
        .and_then(Value::as_u64)
        .unwrap_or(0);
    let keep = len / 2;
    if let Some(Value::Array(items)) = object.get_mut(&key) {
        items.truncate(keep);
    }
    object.insert(omitted_key, json!(already + (len - keep) as u64));
    true
}

/// Write the report when a path was given; a failure to write is logged, never fatal.
pub fn write(path: Option<&Path>, report: Value) {
    let Some(path) = path else { return };
    if let Err(e) = std::fs::write(path, render(report)) {
        tracing::warn!(path = %path.display(), error = %e, "could not write the report");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lists_are_cut_to_fit_and_counted() {
        let names: Vec<String> = (0..2000).map(|i| format!("backup-{i:05}")).collect();
        let text = render(json!({"command": "prune", "result": "Succeeded", "deleted": names}));
        assert!(text.len() <= LIMIT, "{}", text.len());
        let value: Value = serde_json::from_str(&text).expect("should succeed");
        let kept = value["deleted"].as_array().expect("should succeed").len() as u64;
        assert_eq!(
            kept + value["deletedOmitted"].as_u64().expect("should succeed"),
            2000
        );
        let small = render(json!({"command": "backup", "result": "Succeeded"}));
        assert_eq!(small, r#"{"command":"backup","result":"Succeeded"}"#);
    }
}
