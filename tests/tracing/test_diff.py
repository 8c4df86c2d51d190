"""tracing.diff: aligning two agent runs step by step, field diffs and run totals."""
import random
import time
from collections import Counter
from decimal import Decimal

from tracing.diff import align_runs, first_divergence, json_changes, run_totals, totals_delta, word_diff

_ids = iter(range(10**9))


def llm(model="gpt-4o", text="ok", **kw):
    step = dict(span_id=f"s{next(_ids)}", parent_span_id="root", kind="llm", name=f"chat {model}", model=model,
                status="ok", input=[{"role": "user", "parts": [{"type": "text", "content": "hi"}]}],
                output=[{"role": "assistant", "parts": [{"type": "text", "content": text}]}],
                input_tokens=100, output_tokens=10, cache_read_tokens=None, cache_write_tokens=None,
                reasoning_tokens=None, cost_usd="0.001", duration_ms=500, error=None)
    return {**step, **kw}


def tool(name="search", args=None, result="found", **kw):
    step = dict(span_id=f"s{next(_ids)}", parent_span_id="root", kind="tool", name=f"execute_tool {name}",
                tool_name=name, status="ok", tool_arguments=args if args is not None else {"q": "x"},
                tool_result=result, cost_usd=None, duration_ms=20, error=None)
    return {**step, **kw}


def ops(rows):
    return [r["op"] for r in rows]


def sigs(rows):
    """(op, a's tool or model, b's tool or model) per row, for readable asserts."""
    def who(s):
        return None if s is None else s.get("tool_name") or s.get("model")
    return [(r["op"], who(r["a"]), who(r["b"])) for r in rows]


# --- alignment ----------------------------------------------------------------------


def test_identical_runs_are_all_same_and_never_diverge():
    run = [llm(), tool("search"), llm(), tool("fetch"), llm()]
    rows = align_runs(run, [dict(s) for s in run])
    assert ops(rows) == ["same"] * 5
    assert all(r["changes"] == [] and not r["metrics_changed"] for r in rows)
    assert first_divergence(rows) is None


def test_inserted_tool_call_aligns_as_added():
    a = [llm(), tool("search"), llm()]
    b = [llm(), tool("search"), tool("fetch"), llm()]
    rows = align_runs(a, b)
    assert sigs(rows) == [("same", "gpt-4o", "gpt-4o"), ("same", "search", "search"), ("added", None, "fetch"),
                          ("same", "gpt-4o", "gpt-4o")]
    assert first_divergence(rows) == 2


def test_deleted_step_aligns_as_removed():
    a = [llm(), tool("search"), tool("fetch"), llm()]
    b = [llm(), tool("search"), llm()]
    assert sigs(align_runs(a, b))[2] == ("removed", "fetch", None)
    assert ops(align_runs(a, b)) == ["same", "same", "removed", "same"]


def test_swapped_steps_show_as_one_removed_and_one_added():
    a = [llm(), tool("search"), tool("fetch"), llm()]
    b = [llm(), tool("fetch"), tool("search"), llm()]
    rows = align_runs(a, b)
    assert Counter(ops(rows)) == {"same": 3, "removed": 1, "added": 1}
    moved = {r["a"]["tool_name"] for r in rows if r["op"] == "removed"}
    assert moved == {r["b"]["tool_name"] for r in rows if r["op"] == "added"}
    assert first_divergence(rows) == 1


def test_repeated_tool_loop_with_an_extra_iteration_lines_up_from_the_start():
    a = [llm(), tool("search"), llm(), tool("search"), llm()]
    b = [llm(), tool("search"), llm(), tool("search"), llm(), tool("search"), llm()]
    rows = align_runs(a, b)
    assert ops(rows) == ["same"] * 5 + ["added", "added"]
    assert [r["a"] for r in rows[:5]] == a  # each repeat paired with its own counterpart, in order
    assert first_divergence(rows) == 5


def test_extra_loop_iteration_is_added_at_the_end_even_when_the_runs_start_differently():
    a = [dict(llm(), kind="agent", name="invoke_agent v1", model=""), llm(), tool("search"), llm()]
    b = [dict(llm(), kind="agent", name="invoke_agent v2", model=""), llm(), tool("search"), llm(), tool("search"),
         llm()]
    rows = align_runs(a, b)
    assert ops(rows)[-2:] == ["added", "added"]
    assert [r["b"] for r in rows[-5:-2]] == b[1:4]


def test_repeated_tools_with_one_iteration_dropped_in_the_middle():
    a = [tool("search", {"q": "1"}), tool("search", {"q": "2"}), tool("fetch"), tool("search", {"q": "3"})]
    b = [tool("search", {"q": "1"}), tool("fetch"), tool("search", {"q": "3"})]
    rows = align_runs(a, b)
    # The search ran once fewer: one search is removed, not every later step shifted.
    assert Counter(ops(rows))["removed"] == 1
    assert sum(r["op"] in ("same", "changed") for r in rows) == 3


def test_model_swap_aligns_the_llm_call_as_changed_not_removed_and_added():
    rows = align_runs([tool("search"), llm("gpt-4o")], [tool("search"), llm("gpt-4o-mini")])
    assert ops(rows) == ["same", "changed"]
    fields = {c["field"] for c in rows[1]["changes"]}
    assert {"model", "name"} <= fields


def test_a_different_tool_in_the_same_place_is_removed_and_added():
    rows = align_runs([llm(), tool("search"), llm()], [llm(), tool("delete_file"), llm()])
    assert Counter(ops(rows)) == {"same": 2, "removed": 1, "added": 1}


def test_changed_tool_result_marks_the_step_changed():
    rows = align_runs([tool("search", result={"hits": 3, "top": "a"})], [tool("search", result={"hits": 0})])
    assert ops(rows) == ["changed"]
    (change,) = rows[0]["changes"]
    assert change["field"] == "tool_result" and change["detail"]["type"] == "json"
    assert {(c["path"], c["op"]) for c in change["detail"]["changes"]} == {("$.hits", "changed"), ("$.top", "removed")}


def test_status_change_is_a_behaviour_change():
    rows = align_runs([tool("pay")], [tool("pay", status="error", error="card declined")])
    assert ops(rows) == ["changed"]
    assert {c["field"] for c in rows[0]["changes"]} == {"status", "error"}
    assert first_divergence(rows) == 0


def test_latency_and_cost_only_differences_keep_op_same_but_flag_metrics_changed():
    a = [llm(duration_ms=500, cost_usd="0.0010", output_tokens=10)]
    b = [llm(duration_ms=1_700, cost_usd="0.0025", output_tokens=25)]
    rows = align_runs(a, b)
    assert ops(rows) == ["same"] and rows[0]["metrics_changed"] is True
    details = {c["field"]: c["detail"]["delta"] for c in rows[0]["changes"]}
    assert details == {"duration_ms": 1_200, "cost_usd": "0.0015", "output_tokens": 15}
    assert first_divergence(rows) is None


def test_cost_strings_that_are_numerically_equal_are_not_a_change():
    assert align_runs([llm(cost_usd="0.10")], [llm(cost_usd="0.1")])[0]["changes"] == []


def test_empty_runs_align_to_nothing_and_one_empty_side_is_all_added_or_removed():
    assert align_runs([], []) == []
    assert first_divergence([]) is None
    run = [llm(), tool()]
    assert ops(align_runs([], run)) == ["added", "added"]
    assert ops(align_runs(run, [])) == ["removed", "removed"]


def test_runs_of_different_agents_align_without_errors():
    a = [dict(llm(), kind="agent", name="invoke_agent support", model=""), llm(), tool("lookup_order")]
    b = [dict(llm(), kind="agent", name="invoke_agent billing", model=""), llm("claude-sonnet-4-5"), tool("refund")]
    rows = align_runs(a, b)
    assert sigs(rows).count(("changed", "gpt-4o", "claude-sonnet-4-5")) == 1
    assert Counter(ops(rows)) == {"removed": 2, "added": 2, "changed": 1}


# --- field diffs --------------------------------------------------------------------


def test_text_output_diff_is_word_level_and_reconstructs_both_sides():
    a, b = "The refund was sent to the customer today.", "The refund was declined for the customer today!"
    segments = word_diff(a, b)
    assert "".join(t for tag, t in segments if tag != "insert") == a
    assert "".join(t for tag, t in segments if tag != "delete") == b
    assert ("equal", "The refund was ") in segments
    assert ("delete", "sent to ") in segments and ("insert", "declined for ") in segments


def test_llm_output_change_gives_word_segments_at_the_message_path():
    rows = align_runs([llm(text="Paris is the capital")], [llm(text="Lyon is the capital")])
    (change,) = [c for c in rows[0]["changes"] if c["field"] == "output"]
    (leaf,) = change["detail"]["changes"]
    assert leaf["path"] == "$[0].parts[0].content"
    assert leaf["segments"] == [("delete", "Paris "), ("insert", "Lyon "), ("equal", "is the capital")]


def test_json_diff_reports_added_removed_and_changed_keys_with_paths():
    a = {"user": {"id": 1, "name": "Ann"}, "limit": 5, "tags": ["x"]}
    b = {"user": {"id": 2, "name": "Ann", "email": "a@x"}, "tags": ["x", "y"], "dry-run": True}
    got = {(c["path"], c["op"]) for c in json_changes(a, b)}
    assert got == {("$.user.id", "changed"), ("$.user.email", "added"), ("$.limit", "removed"),
                   ("$.tags[1]", "added"), ('$["dry-run"]', "added")}


def test_json_text_tool_arguments_are_compared_as_data():
    rows = align_runs([tool(args='{"path": "/tmp/a", "force": false}')],
                      [tool(args='{"force": false, "path": "/etc/passwd"}')])
    (change,) = rows[0]["changes"]
    assert change["detail"]["type"] == "json"
    assert [(c["path"], c["b"]) for c in change["detail"]["changes"]] == [("$.path", "/etc/passwd")]
    # The same arguments with keys in another order are the same arguments.
    assert align_runs([tool(args='{"a": 1, "b": 2}')], [tool(args='{"b": 2, "a": 1}')])[0]["op"] == "same"


def test_inserted_message_does_not_mark_later_messages_changed():
    msgs = [{"role": "user", "content": f"m{i}"} for i in range(5)]
    changes = json_changes(msgs, msgs[:2] + [{"role": "tool", "content": "injected"}] + msgs[2:])
    assert [(c["path"], c["op"]) for c in changes] == [("$[2]", "added")]


def test_huge_hostile_text_is_diffed_coarsely_and_quickly():
    a = "spam " * 500_000 + "end"
    start = time.perf_counter()
    segments = word_diff(a, a.replace("end", "END"))
    assert time.perf_counter() - start < 1
    assert [tag for tag, _ in segments] == ["equal", "delete", "insert"]


# --- totals -------------------------------------------------------------------------


def test_totals_delta_counts_steps_calls_tokens_cost_and_errors():
    a = [llm(input_tokens=100, output_tokens=10, cost_usd="0.01"), tool()]
    b = [llm(input_tokens=150, output_tokens=30, cache_read_tokens=50, cost_usd="0.02"), tool(status="error"),
         llm(input_tokens=10, output_tokens=5, reasoning_tokens=3, cost_usd="0.005")]
    d = totals_delta(a, b)
    assert d["steps"] == {"a": 2, "b": 3, "delta": 1}
    assert d["llm_calls"] == {"a": 1, "b": 2, "delta": 1}
    assert d["tool_calls"] == {"a": 1, "b": 1, "delta": 0}
    assert d["errors"] == {"a": 0, "b": 1, "delta": 1}
    assert d["input_tokens"] == {"a": 100, "b": 160, "delta": 60}
    assert d["cache_read_tokens"]["delta"] == 50 and d["reasoning_tokens"]["b"] == 3
    assert d["cost_usd"] == {"a": Decimal("0.01"), "b": Decimal("0.025"), "delta": Decimal("0.015")}


def test_totals_cost_stays_unknown_when_any_llm_call_is_unpriced():
    d = totals_delta([llm(cost_usd="0.01")], [llm(cost_usd="0.01"), llm(model="in-house", cost_usd=None)])
    assert d["cost_usd"] == {"a": Decimal("0.01"), "b": None, "delta": None}
    assert d["unpriced_steps"]["b"] == 1


def test_tool_steps_without_cost_do_not_make_the_total_unknown():
    assert run_totals([llm(cost_usd="0.5"), tool()])["cost_usd"] == Decimal("0.5")


def test_duration_is_wall_clock_not_the_sum_of_nested_steps():
    root = dict(llm(), kind="agent", span_id="root", parent_span_id=None, duration_ms=1_000,
                started_at="2026-01-01T00:00:00Z", ended_at="2026-01-01T00:00:01Z")
    child = dict(llm(), duration_ms=800, started_at="2026-01-01T00:00:00.100Z", ended_at="2026-01-01T00:00:00.900Z")
    assert run_totals([root, child])["duration_ms"] == 1_000
    undated = [{**s, "started_at": None, "ended_at": None} for s in (root, child)]
    assert run_totals(undated)["duration_ms"] == 1_000  # falls back to the top-level step


def test_totals_of_empty_runs_are_zero_with_unknown_duration():
    d = totals_delta([], [])
    assert d["steps"] == {"a": 0, "b": 0, "delta": 0}
    assert d["cost_usd"] == {"a": Decimal(0), "b": Decimal(0), "delta": Decimal(0)}
    assert d["duration_ms"] == {"a": None, "b": None, "delta": None}


# --- speed --------------------------------------------------------------------------


def _agent_run(n, tools, seed):
    rnd = random.Random(seed)
    return [llm(text=f"step {i // 2}", duration_ms=rnd.randint(100, 900)) if i % 2 == 0
            else tool(rnd.choice(tools), args={"q": rnd.randint(0, 3)}) for i in range(n)]


def test_thousand_step_runs_align_well_under_a_second():
    rnd = random.Random(7)
    base = _agent_run(1_000, ["search", "fetch", "read", "write"], 1)
    edited = [dict(s) for s in base]
    for _ in range(50):  # ~5% inserts, deletes and changed results
        i, r = rnd.randrange(len(edited)), rnd.random()
        if r < 0.33:
            del edited[i]
        elif r < 0.66:
            edited.insert(i, tool("new_tool"))
        else:
            edited[i] = dict(edited[i], tool_result="something else")
    cases = {
        "5% edits": (base, edited),
        "identical": (base, [dict(s) for s in base]),
        "same model, disjoint tools": (_agent_run(1_000, ["a", "b"], 2), _agent_run(1_000, ["c", "d"], 3)),
        "unrelated runs": (base, _agent_run(1_000, ["search", "fetch", "read", "write"], 9)),
    }
    print()
    for name, (a, b) in cases.items():
        start = time.perf_counter()
        rows = align_runs(a, b)
        totals_delta(a, b)
        elapsed = time.perf_counter() - start
        print(f"align_runs 1,000 x 1,000 ({name}): {elapsed * 1000:.1f} ms, {dict(Counter(ops(rows)))}")
        assert sum(r["a"] is not None for r in rows) == len(a) and sum(r["b"] is not None for r in rows) == len(b)
