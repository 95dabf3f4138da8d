//! The analysis of one `EXPLAIN (ANALYZE, BUFFERS, VERBOSE, FORMAT JSON)` plan: a pure
//! function from what the server said ([`ExplainFacts`]) to an [`Explained`] that the
//! renderers print. It flattens the plan tree, computes each node's *exclusive* buffers
//! (EXPLAIN reports a node's counts *inclusive* of its children; the node's own share is its
//! count minus its children's), finds the node that reads most by its exclusive reads, flags
//! sequential scans over relations larger than a quarter of `shared_buffers`, and computes
//! the hit ratio of the whole statement from the top node (whose counts cover the whole
//! execution).
//!
//! Field names differ between majors (PostgreSQL 18 prints `Actual Rows` with decimals, 13
//! and later add a `Planning` buffer group, 17 renamed `I/O Read Time`); a field that is
//! absent counts as zero or "not shown", never as an error, so a newer server's extra fields
//! cannot break the command.

use serde::Serialize;
use serde_json::Value;

/// A sequential scan over a relation larger than this share of `shared_buffers` reads it
/// through a small ring buffer (PostgreSQL's `BAS_BULKREAD`, chosen in `heapam.c` when the
/// relation has more than `NBuffers / 4` blocks): the scan neither benefits from the cache
/// nor fills it, so every run reads the whole relation again from the OS or the disk.
pub const LARGE_SCAN_SHARED_BUFFERS_DIVISOR: i64 = 4;

/// What the shell collected: the plan and, from the same read-only transaction, the sizes of
/// the relations it names and the server's `shared_buffers`.
#[derive(Debug, Clone)]
pub struct ExplainFacts {
    /// The `EXPLAIN … FORMAT JSON` result: an array holding one object with `Plan`.
    pub plan: Value,
    /// Sizes of the relations the plan names (`pg_relation_size`, main fork).
    pub relations: Vec<RelationSize>,
    /// `shared_buffers` in bytes.
    pub shared_buffers_bytes: i64,
    /// The server's version, `"15.4"`.
    pub server_version: String,
}

/// One relation's size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelationSize {
    /// Schema name.
    pub schema: String,
    /// Relation name.
    pub name: String,
    /// `pg_relation_size` in bytes.
    pub bytes: i64,
}

/// Buffer counts of one node (or of planning), in blocks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Buffers {
    /// Shared blocks found in shared_buffers.
    pub shared_hit: i64,
    /// Shared blocks read from the OS (its page cache or the disk).
    pub shared_read: i64,
    /// Shared blocks this statement dirtied (hint bits, pruning).
    pub shared_dirtied: i64,
    /// Shared blocks this statement had to write out itself.
    pub shared_written: i64,
    /// Temporary-file blocks read (sorts and hashes spilling past work_mem).
    pub temp_read: i64,
    /// Temporary-file blocks written.
    pub temp_written: i64,
}

impl Buffers {
    fn from_json(o: &Value) -> Buffers {
        let get = |k: &str| o.get(k).and_then(Value::as_i64).unwrap_or(0);
        Buffers {
            shared_hit: get("Shared Hit Blocks"),
            shared_read: get("Shared Read Blocks"),
            shared_dirtied: get("Shared Dirtied Blocks"),
            shared_written: get("Shared Written Blocks"),
            temp_read: get("Temp Read Blocks"),
            temp_written: get("Temp Written Blocks"),
        }
    }

    /// `self - other`, each count at least zero: a CTE or a shared subplan can be counted
    /// under more than one parent, so a child may show more than its parent.
    fn minus(self, other: Buffers) -> Buffers {
        let d = |a: i64, b: i64| (a - b).max(0);
        Buffers {
            shared_hit: d(self.shared_hit, other.shared_hit),
            shared_read: d(self.shared_read, other.shared_read),
            shared_dirtied: d(self.shared_dirtied, other.shared_dirtied),
            shared_written: d(self.shared_written, other.shared_written),
            temp_read: d(self.temp_read, other.temp_read),
            temp_written: d(self.temp_written, other.temp_written),
        }
    }

    fn plus(self, o: Buffers) -> Buffers {
        Buffers {
            shared_hit: self.shared_hit + o.shared_hit,
            shared_read: self.shared_read + o.shared_read,
            shared_dirtied: self.shared_dirtied + o.shared_dirtied,
            shared_written: self.shared_written + o.shared_written,
            temp_read: self.temp_read + o.temp_read,
            temp_written: self.temp_written + o.temp_written,
        }
    }

    /// Shared hits over shared hits + reads, in percent; `None` without any.
    pub fn hit_percent(&self) -> Option<f64> {
        super::hit_ratio(self.shared_hit, self.shared_read).map(|r| 100.0 * r)
    }
}

/// One plan node, in the order EXPLAIN prints them (parent before children).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Node {
    /// Position in [`Explained::nodes`], from 0 (the top node).
    pub id: usize,
    /// Depth in the tree, 0 for the top node.
    pub depth: usize,
    /// `Parent Relationship` (Outer, Inner, InitPlan, SubPlan, …), when given.
    pub parent_relationship: Option<String>,
    /// `Node Type` (Seq Scan, Index Scan, Hash Join, …).
    pub node_type: String,
    /// Whether the node ran in parallel workers (`Parallel Aware`).
    pub parallel: bool,
    /// `schema.relation` the node scans, when it scans one.
    pub relation: Option<String>,
    /// The index it uses, when it uses one.
    pub index: Option<String>,
    /// `Actual Rows`: rows per loop, as EXPLAIN gives them (an average over loops).
    pub rows_per_loop: f64,
    /// `Actual Loops`; 0 means the node never ran.
    pub loops: f64,
    /// `Actual Total Time` × loops, in milliseconds, inclusive of the children.
    pub time_ms: f64,
    /// Buffers inclusive of the children, as EXPLAIN gives them.
    pub inclusive: Buffers,
    /// The node's own buffers: inclusive minus its children's inclusive.
    pub exclusive: Buffers,
    /// The scanned relation's size in bytes, when known.
    pub relation_bytes: Option<i64>,
}

/// A sequential scan over a relation larger than a quarter of `shared_buffers`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LargeScan {
    /// The scan node's id.
    pub node: usize,
    /// `schema.relation`.
    pub relation: String,
    /// Its size in bytes.
    pub relation_bytes: i64,
    /// Blocks the scan itself read from the OS.
    pub shared_read: i64,
}

/// The plan, analysed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Explained {
    /// `"15.4"`-style server version.
    pub server_version: String,
    /// `Planning Time`, ms.
    pub planning_ms: Option<f64>,
    /// `Execution Time`, ms.
    pub execution_ms: Option<f64>,
    /// Buffers touched while planning (catalog lookups); PostgreSQL 13 and later.
    pub planning_buffers: Option<Buffers>,
    /// Buffers of the whole execution: the top node's inclusive counts.
    pub execution_buffers: Buffers,
    /// Shared hit ratio of the execution, percent.
    pub hit_percent: Option<f64>,
    /// `shared_buffers` in bytes.
    pub shared_buffers_bytes: i64,
    /// Every node, parent before children.
    pub nodes: Vec<Node>,
    /// The node with the most exclusive shared reads, when any node read.
    pub top_reader: Option<usize>,
    /// Sequential scans over relations larger than `shared_buffers / 4`.
    pub large_scans: Vec<LargeScan>,
}

/// Analyses a plan. Fails (with a message) only when the JSON has no `Plan` at all.
pub fn analyse(facts: &ExplainFacts) -> Result<Explained, String> {
    let top = facts
        .plan
        .as_array()
        .and_then(|a| a.first())
        .unwrap_or(&facts.plan);
    let plan = top
        .get("Plan")
        .ok_or("the server's EXPLAIN output has no \"Plan\"")?;
    let mut nodes = Vec::new();
    flatten(plan, 0, None, &mut nodes);
    for node in &mut nodes {
        node.relation_bytes = node.relation.as_deref().and_then(|qualified| {
            facts
                .relations
                .iter()
                .find(|r| format!("{}.{}", r.schema, r.name) == qualified)
                .map(|r| r.bytes)
        });
    }
    let top_reader = nodes
        .iter()
        .filter(|n| n.exclusive.shared_read > 0)
        .max_by_key(|n| (n.exclusive.shared_read, std::cmp::Reverse(n.id)))
        .map(|n| n.id);
    let threshold = facts.shared_buffers_bytes / LARGE_SCAN_SHARED_BUFFERS_DIVISOR;
    let large_scans = nodes
        .iter()
        .filter(|n| n.node_type == "Seq Scan")
        .filter_map(|n| {
            let bytes = n.relation_bytes?;
            (bytes > threshold).then(|| LargeScan {
                node: n.id,
                relation: n.relation.clone().unwrap_or_default(),
                relation_bytes: bytes,
                shared_read: n.exclusive.shared_read,
            })
        })
        .collect();
    let execution_buffers = nodes.first().map(|n| n.inclusive).unwrap_or_default();
    Ok(Explained {
        server_version: facts.server_version.clone(),
        planning_ms: top.get("Planning Time").and_then(Value::as_f64),
        execution_ms: top.get("Execution Time").and_then(Value::as_f64),
        planning_buffers: top.get("Planning").map(Buffers::from_json),
        hit_percent: execution_buffers.hit_percent(),
        execution_buffers,
        shared_buffers_bytes: facts.shared_buffers_bytes,
        nodes,
        top_reader,
        large_scans,
    })
}

/// `(schema, relation)` of every node of an EXPLAIN VERBOSE plan that scans a relation,
/// each once, in plan order: what the shell asks the sizes of.
pub fn scanned_relations(plan: &Value) -> Vec<(String, String)> {
    fn walk(node: &Value, out: &mut Vec<(String, String)>) {
        let text = |k: &str| node.get(k).and_then(Value::as_str);
        if let (Some(schema), Some(name)) = (text("Schema"), text("Relation Name")) {
            let pair = (schema.to_owned(), name.to_owned());
            if !out.contains(&pair) {
                out.push(pair);
            }
        }
        for child in node
            .get("Plans")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            walk(child, out);
        }
    }
    let mut out = Vec::new();
    let top = plan.as_array().and_then(|a| a.first()).unwrap_or(plan);
    if let Some(p) = top.get("Plan") {
        walk(p, &mut out);
    }
    out
}

/// Appends `plan` and its descendants to `out`, parent first, and fills exclusive counts.
fn flatten(plan: &Value, depth: usize, relationship: Option<String>, out: &mut Vec<Node>) {
    let text = |k: &str| plan.get(k).and_then(Value::as_str).map(str::to_owned);
    let num = |k: &str| plan.get(k).and_then(Value::as_f64).unwrap_or(0.0);
    let relation = text("Relation Name").map(|name| match text("Schema") {
        Some(schema) => format!("{schema}.{name}"),
        None => name,
    });
    let id = out.len();
    let loops = num("Actual Loops");
    let inclusive = Buffers::from_json(plan);
    out.push(Node {
        id,
        depth,
        parent_relationship: relationship,
        node_type: text("Node Type").unwrap_or_else(|| "?".to_owned()),
        parallel: plan.get("Parallel Aware").and_then(Value::as_bool) == Some(true),
        relation,
        index: text("Index Name"),
        rows_per_loop: num("Actual Rows"),
        loops,
        time_ms: num("Actual Total Time") * loops,
        inclusive,
        exclusive: inclusive,
        relation_bytes: None,
    });
    let mut children = Buffers::default();
    for child in plan
        .get("Plans")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let child_id = out.len();
        let rel = child
            .get("Parent Relationship")
            .and_then(Value::as_str)
            .map(str::to_owned);
        flatten(child, depth + 1, rel, out);
        children = children.plus(out[child_id].inclusive);
    }
    out[id].exclusive = inclusive.minus(children);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn facts(plan: Value, relations: Vec<RelationSize>) -> ExplainFacts {
        ExplainFacts {
            plan,
            relations,
            shared_buffers_bytes: 16 * 1024 * 1024,
            server_version: "15.4".into(),
        }
    }

    fn rel(name: &str, bytes: i64) -> RelationSize {
        RelationSize {
            schema: "public".into(),
            name: name.into(),
            bytes,
        }
    }

    /// A hash join of a big table's seq scan (reads) and a small one's index scan (hits),
    /// as PostgreSQL 15 prints it with VERBOSE.
    fn join_plan() -> Value {
        json!([{
            "Plan": {
                "Node Type": "Hash Join", "Parallel Aware": false,
                "Actual Rows": 10, "Actual Loops": 1, "Actual Total Time": 50.5,
                "Shared Hit Blocks": 130, "Shared Read Blocks": 1000,
                "Shared Dirtied Blocks": 0, "Shared Written Blocks": 0,
                "Temp Read Blocks": 7, "Temp Written Blocks": 7,
                "Plans": [
                    {"Node Type": "Seq Scan", "Parent Relationship": "Outer",
                     "Relation Name": "big", "Schema": "public", "Alias": "b",
                     "Actual Rows": 100000, "Actual Loops": 1, "Actual Total Time": 40.0,
                     "Shared Hit Blocks": 20, "Shared Read Blocks": 990},
                    {"Node Type": "Hash", "Parent Relationship": "Inner",
                     "Actual Rows": 5, "Actual Loops": 1, "Actual Total Time": 1.0,
                     "Shared Hit Blocks": 100, "Shared Read Blocks": 10,
                     "Plans": [
                        {"Node Type": "Index Scan", "Parent Relationship": "Outer",
                         "Relation Name": "small", "Schema": "public", "Index Name": "small_pkey",
                         "Actual Rows": 2.5, "Actual Loops": 2, "Actual Total Time": 0.4,
                         "Shared Hit Blocks": 100, "Shared Read Blocks": 10}
                     ]}
                ]
            },
            "Planning": {"Shared Hit Blocks": 12, "Shared Read Blocks": 3},
            "Planning Time": 0.25,
            "Triggers": [],
            "Execution Time": 51.0
        }])
    }

    #[test]
    fn exclusive_buffers_are_the_node_minus_its_children() {
        let e = analyse(&facts(join_plan(), vec![])).unwrap();
        let types: Vec<&str> = e.nodes.iter().map(|n| n.node_type.as_str()).collect();
        assert_eq!(types, ["Hash Join", "Seq Scan", "Hash", "Index Scan"]);
        assert_eq!(
            e.nodes.iter().map(|n| n.depth).collect::<Vec<_>>(),
            [0, 1, 1, 2]
        );
        let join = &e.nodes[0];
        assert_eq!(join.inclusive.shared_read, 1000);
        assert_eq!(join.exclusive.shared_read, 0, "1000 - 990 - 10");
        assert_eq!(join.exclusive.shared_hit, 10, "130 - 20 - 100");
        assert_eq!(
            join.exclusive.temp_written, 7,
            "the hash join spilled itself"
        );
        assert_eq!(e.nodes[2].exclusive, Buffers::default(), "Hash = its child");
        assert_eq!(e.nodes[3].exclusive.shared_hit, 100);
        assert_eq!(e.nodes[3].relation.as_deref(), Some("public.small"));
        assert_eq!(e.nodes[3].index.as_deref(), Some("small_pkey"));
        assert_eq!(e.nodes[3].parent_relationship.as_deref(), Some("Outer"));
        assert!((e.nodes[3].time_ms - 0.8).abs() < 1e-9, "0.4 ms × 2 loops");
        assert!(
            (e.nodes[3].rows_per_loop - 2.5).abs() < 1e-9,
            "18 prints decimals"
        );
    }

    #[test]
    fn the_statement_totals_come_from_the_top_node_and_planning_separately() {
        let e = analyse(&facts(join_plan(), vec![])).unwrap();
        assert_eq!(e.execution_buffers.shared_hit, 130);
        assert_eq!(e.execution_buffers.shared_read, 1000);
        let hit = e.hit_percent.unwrap();
        assert!((hit - 100.0 * 130.0 / 1130.0).abs() < 1e-9, "{hit}");
        let planning = e.planning_buffers.unwrap();
        assert_eq!((planning.shared_hit, planning.shared_read), (12, 3));
        assert_eq!(e.planning_ms, Some(0.25));
        assert_eq!(e.execution_ms, Some(51.0));
        assert_eq!(e.server_version, "15.4");
    }

    #[test]
    fn the_top_reader_is_chosen_by_exclusive_reads() {
        let e = analyse(&facts(join_plan(), vec![])).unwrap();
        // The join's inclusive 1000 is the most, but it read nothing itself.
        assert_eq!(e.top_reader, Some(1));
        let mut quiet = join_plan();
        let key = "Shared Read Blocks";
        quiet[0]["Plan"][key] = json!(0);
        quiet[0]["Plan"]["Plans"][0][key] = json!(0);
        quiet[0]["Plan"]["Plans"][1][key] = json!(0);
        quiet[0]["Plan"]["Plans"][1]["Plans"][0][key] = json!(0);
        let e = analyse(&facts(quiet, vec![])).unwrap();
        assert_eq!(e.top_reader, None, "nothing read: no top reader");
        assert_eq!(e.hit_percent, Some(100.0));
    }

    #[test]
    fn seq_scans_over_a_quarter_of_shared_buffers_are_large() {
        // shared_buffers is 16 MiB: the line is 4 MiB.
        let quarter = 4 * 1024 * 1024;
        let e = analyse(&facts(
            join_plan(),
            vec![rel("big", quarter + 8192), rel("small", 1 << 30)],
        ))
        .unwrap();
        assert_eq!(e.large_scans.len(), 1, "the index scan is not flagged");
        assert_eq!(e.large_scans[0].relation, "public.big");
        assert_eq!(e.large_scans[0].shared_read, 990);
        assert_eq!(e.nodes[1].relation_bytes, Some(quarter + 8192));
        let e = analyse(&facts(join_plan(), vec![rel("big", quarter)])).unwrap();
        assert!(e.large_scans.is_empty(), "exactly a quarter is not larger");
    }

    #[test]
    fn missing_fields_count_as_zero_and_a_plan_is_required() {
        // PostgreSQL 12-style output without Planning, a node that never ran.
        let plan = json!([{"Plan": {"Node Type": "Result", "Actual Loops": 0}}]);
        let e = analyse(&facts(plan, vec![])).unwrap();
        assert_eq!(e.planning_buffers, None);
        assert_eq!(e.nodes[0].loops, 0.0);
        assert_eq!(e.hit_percent, None);
        assert!(analyse(&facts(json!([{"x": 1}]), vec![])).is_err());
        assert!(analyse(&facts(json!("nonsense"), vec![])).is_err());
    }

    #[test]
    fn scanned_relations_are_listed_once_with_their_schema() {
        let mut plan = join_plan();
        plan[0]["Plan"]["Plans"][1]["Plans"][0]["Relation Name"] = json!("big");
        plan[0]["Plan"]["Plans"][1]["Plans"][0]["Schema"] = json!("other");
        assert_eq!(
            scanned_relations(&plan),
            [
                ("public".to_owned(), "big".to_owned()),
                ("other".to_owned(), "big".to_owned())
            ]
        );
        let mut twice = join_plan();
        twice[0]["Plan"]["Plans"][1]["Plans"][0]["Relation Name"] = json!("big");
        assert_eq!(scanned_relations(&twice).len(), 1);
        assert!(scanned_relations(&json!([{}])).is_empty());
    }

    #[test]
    fn a_child_counted_more_than_its_parent_gives_zero_not_negative() {
        let plan = json!([{"Plan": {"Node Type": "Limit", "Shared Read Blocks": 5,
            "Plans": [{"Node Type": "CTE Scan", "Shared Read Blocks": 9}]}}]);
        let e = analyse(&facts(plan, vec![])).unwrap();
        assert_eq!(e.nodes[0].exclusive.shared_read, 0);
    }
}
