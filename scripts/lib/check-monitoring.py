#!/usr/bin/env python3
"""Static checks of the monitoring pack, run by scripts/check-monitoring.

    check-monitoring.py ROOT PROMQL_OUT

- Every metric name the alerting rules and the dashboards use is one the code registers
  (api-server/src/metrics.rs, operator/src/metrics.rs, with the suffixes prometheus-client adds
  for its type), one the kube-state-metrics CustomResourceState config defines, a recording rule
  of the rules file, or an external one listed in docs/monitoring.md ("External metrics").
- Every alert has `for`, a severity, summary, description and a runbook_url into
  docs/runbook.md, and a case in monitoring/tests/.
- Every dashboard is valid JSON with a datasource variable; its queries are written to
  PROMQL_OUT as recording rules so promtool can parse them (Grafana variables substituted).

Standard library only (no PyYAML): the rules file is read as text, which its layout allows
(`expr:` blocks, `- alert:` items).
"""

import glob
import json
import os
import re
import sys

ROOT = sys.argv[1]
CHART = os.path.join(ROOT, "charts/merchant-operator")
RULES = os.path.join(CHART, "files/merchant-stack.rules.yaml")
CRS = os.path.join(CHART, "files/kube-state-metrics-crs.yaml")
DOC = os.path.join(ROOT, "docs/monitoring.md")
errors = []


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def registered(path):
    """Exposed names of a prometheus-client registry: prefix + name + the type's suffixes."""
    src = read(path)
    prefix = re.search(r'Registry::with_prefix\("([a-z_]+)"\)', src).group(1)
    struct = re.search(r"pub struct Metrics \{(.*?)\n\}", src, re.S).group(1)
    types = dict(re.findall(r"^\s*(?:pub )?(\w+): (.+),$", struct, re.M))
    names = set()
    for name, var in re.findall(r'\.register\(\s*"(\w+)",\s*"[^"]*",\s*(\w+)\.clone\(\)', src):
        kind = types.get(var, "")
        base = f"{prefix}_{name}"
        if "Counter" in kind:
            names.add(base + "_total")
        elif "Histogram" in kind:
            names.update(base + s for s in ("_bucket", "_sum", "_count"))
        elif "Gauge" in kind:
            names.add(base)
        else:
            errors.append(f"{path}: cannot tell the type of metric {name} (field {var})")
    if not names:
        errors.append(f"{path}: no registered metric found (has the registration code changed?)")
    return names


def crs_metrics():
    src = read(CRS)
    prefix = re.search(r"^\s*metricNamePrefix: (\w+)$", src, re.M).group(1)
    return {f"{prefix}_{n}" for n in re.findall(r"^\s*- name: (\w+)$", src, re.M)}


def documented_external():
    """Backticked names in the "External metrics" section of docs/monitoring.md."""
    section = re.search(r"^## External metrics\n(.*?)(?=^## |\Z)", read(DOC), re.S | re.M)
    if not section:
        errors.append(f"{DOC}: no '## External metrics' section")
        return set()
    return set(re.findall(r"`([a-zA-Z_:][a-zA-Z0-9_:]*)`", section.group(1)))


def rule_exprs(text):
    """The `expr: |` blocks (and one-line exprs) of the rules file."""
    exprs, lines, i = [], text.splitlines(), 0
    while i < len(lines):
        m = re.match(r"^(\s*)(?:- )?expr: ?(.*)$", lines[i])
        i += 1
        if not m:
            continue
        if m.group(2) not in ("|", ">", "|-", ">-"):
            exprs.append(m.group(2))
            continue
        indent, block = len(m.group(1)), []
        while i < len(lines) and (not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > indent):
            block.append(lines[i])
            i += 1
        exprs.append("\n".join(block))
    return exprs


# Metric names: identifiers right before a selector, or with a prefix of ours or an exporter's.
# Strings and label matchers are dropped first so label values are not read as names.
NAME = re.compile(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{")
PREFIXED = re.compile(r"\b((?:merchant_api|merchant_operator|merchant_stack|kube|container)[a-zA-Z0-9_:]*)")


def metric_names(expr):
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    names = set(NAME.findall(expr))
    bare = re.sub(r"\{[^}]*\}", "{}", expr)
    # Grouping labels (by/on/group_left lists) are not metric names.
    bare = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", bare)
    names |= set(PREFIXED.findall(bare))
    return names


def check_alerts(text, tests):
    alerts = re.split(r"^\s*- alert: ", text, flags=re.M)[1:]
    if not alerts:
        errors.append(f"{RULES}: no alert found")
    tested = set(re.findall(r"^\s*alertname: (\w+)$", tests, re.M))
    for block in alerts:
        name = block.split("\n", 1)[0].strip()
        block = re.split(r"^\s*- (?:alert|record): |^\s*- name: ", block, flags=re.M)[0]
        for need, pattern in (
            ("for", r"^\s*for: \d+[smh]$"),
            ("severity label", r"^\s*severity: (warning|critical)$"),
            ("summary", r"^\s*summary: \S"),
            ("description", r"^\s*description: \S"),
            ("runbook_url into docs/runbook.md", r'^\s*runbook_url: "docs/runbook\.md#[a-z0-9-]+"$'),
        ):
            if not re.search(pattern, block, re.M):
                errors.append(f"alert {name}: no {need}")
        if name not in tested:
            errors.append(f"alert {name}: no case in monitoring/tests/")
    return len(alerts)


def dashboards():
    rules = []
    for path in sorted(glob.glob(os.path.join(CHART, "files/dashboards/*.json"))):
        try:
            d = json.loads(read(path))
        except json.JSONDecodeError as e:
            errors.append(f"{path}: invalid JSON: {e}")
            continue
        variables = d.get("templating", {}).get("list", [])
        if not any(v.get("type") == "datasource" for v in variables):
            errors.append(f"{path}: no datasource variable")
        exprs = [t["expr"] for p in d.get("panels", []) for t in p.get("targets", []) if t.get("expr")]
        if not exprs:
            errors.append(f"{path}: no query")
        for e in exprs:
            promql = e.replace("$__rate_interval", "5m")
            promql = re.sub(r"\$(\w+)", "x", promql)
            rules.append((os.path.basename(path), e, promql))
    return rules


def main():
    out = sys.argv[2]
    text = "\n".join(l for l in read(RULES).splitlines() if not l.lstrip().startswith("#"))
    tests = "\n".join(read(p) for p in glob.glob(os.path.join(ROOT, "monitoring/tests/*.test.yaml")))
    known = (
        registered(os.path.join(ROOT, "api-server/src/metrics.rs"))
        | registered(os.path.join(ROOT, "operator/src/metrics.rs"))
        | crs_metrics()
        | set(re.findall(r"^\s*- record: (\S+)$", text, re.M))
        | documented_external()
    )
    alerts = check_alerts(text, tests)
    board_queries = dashboards()
    used = [("rules", e) for e in rule_exprs(text)] + [(f, e) for f, e, _ in board_queries]
    for where, e in used:
        for name in sorted(metric_names(e) - known):
            errors.append(f"{where}: metric {name} is neither registered by the code nor documented as external")
    # JSON is YAML: promtool reads this as a rules file and parses every dashboard query.
    with open(out, "w", encoding="utf-8") as f:
        json.dump({"groups": [{"name": "dashboards", "rules": [
            {"record": f"dashboard:query_{i}", "expr": q} for i, (_, _, q) in enumerate(board_queries)]}]}, f)
    if errors:
        print("\n".join(errors), file=sys.stderr)
        sys.exit(1)
    print(f"{alerts} alerts, {len(used)} queries ({len(board_queries)} in dashboards): every metric is registered or documented")


main()
