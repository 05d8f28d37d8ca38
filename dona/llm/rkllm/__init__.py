"""RKLLM: `.rkllm` models on the NPU of Rockchip RK3588 / RK3576 boards, through ctypes
(`binding` mirrors `rkllm.h`; `backend` is the `rkllm` chat backend)."""

from dona.llm.rkllm.binding import QWEN_TEMPLATE, ChatTemplate, rkllm_library_loads

__all__ = ["QWEN_TEMPLATE", "ChatTemplate", "rkllm_library_loads"]
