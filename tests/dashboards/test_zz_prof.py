import cProfile, pstats, time, json
from tests.dashboards.explorer_data import fast_passwords, ingest  # noqa
from tests.otlp_builders import new_span_id, new_trace_id, span
from tracing import runs as rq
from tracing.models import Run

def test_prof(client, alice, project):
    client.force_login(alice)
    trace_id, root = new_trace_id(), new_span_id()
    spans = [span(trace_id, root, "invoke_agent big", dur_ms=2_000_000, attrs={"gen_ai.agent.name": "big"})]
    head = root
    for i in range(1999):
        sid, parent = new_span_id(), root if i % 10 == 0 else head
        head = sid if i % 10 == 0 else head
        kind = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o",
                "gen_ai.usage.input_tokens": 1000 + i, "gen_ai.usage.output_tokens": 50} if i % 2 else {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "t"}
        spans.append(span(trace_id, sid, f"step {i}", parent=parent, start_ms=i * 900, dur_ms=800, attrs=kind))
    t=time.perf_counter(); ingest(project, spans); print("ingest", time.perf_counter()-t)
    run = Run.objects.get(trace_id=trace_id)
    client.get(f"/p/acme/runs/{trace_id}/tree/?start=250")
    t=time.perf_counter(); steps = rq.tree_rows(run); print("tree", time.perf_counter()-t)
    pr=cProfile.Profile(); pr.enable()
    t=time.perf_counter(); client.get(f"/p/acme/runs/{trace_id}/tree/?start=250"); print("chunk", time.perf_counter()-t)
    pr.disable(); pstats.Stats(pr).sort_stats("tottime").print_stats(15)
