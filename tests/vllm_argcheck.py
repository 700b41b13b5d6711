"""Run with the vLLM test-bed interpreter: parse generated `vllm serve` argv lists with vLLM's own parser.

stdin: JSON list of argv lists (without the leading `vllm serve`). stdout: JSON list of results.
"""

import json
import sys

from vllm.entrypoints.launchers.cli_args import make_arg_parser
from vllm.model_executor.layers.quantization import QUANTIZATION_METHODS
from vllm.reasoning import ReasoningParserManager
from vllm.tool_parsers import ToolParserManager
from vllm.utils.argparse_utils import FlexibleArgumentParser

tools = set(ToolParserManager.list_registered())
reasoners = set(ReasoningParserManager.list_registered())
results = []
for argv in json.load(sys.stdin):
    parser = make_arg_parser(FlexibleArgumentParser())
    model, flags = argv[0], argv[1:]
    try:
        ns = parser.parse_args([model, *flags])  # the same shape as `vllm serve <model> ...`
    except SystemExit as exc:
        results.append({"argv": argv, "ok": False, "error": f"parser exit {exc.code}"})
        continue
    problems = []
    if getattr(ns, "tool_call_parser", None) and ns.tool_call_parser not in tools:
        problems.append(f"unknown tool parser {ns.tool_call_parser}")
    if getattr(ns, "reasoning_parser", None) and ns.reasoning_parser not in reasoners:
        problems.append(f"unknown reasoning parser {ns.reasoning_parser}")
    if getattr(ns, "quantization", None) and ns.quantization not in QUANTIZATION_METHODS:
        problems.append(f"unknown quantization {ns.quantization}")
    results.append(
        {
            "argv": argv,
            "ok": not problems,
            "error": "; ".join(problems),
            "served": getattr(ns, "served_model_name", None),
            "max_model_len": getattr(ns, "max_model_len", None),
        }
    )
print(json.dumps(results))
