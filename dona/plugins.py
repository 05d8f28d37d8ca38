"""The built-in plugins, one list per registry (entry point group).

`dona.registry.Registry` imports these modules the first time it is asked for a name, the
way it loads third-party entry points; each module registers its entries with the
registry's decorator. Adding a built-in means adding its module here, nothing else.
"""

DEFAULT_PLUGINS: dict[str, tuple[str, ...]] = {
    "dona.embedders": (
        "dona.embed.onnx",
        "dona.embed.sbert",
        "dona.embed.use",
    ),
    "dona.index_phases": (
        "dona.index.f32",
        "dona.index.int8",
        "dona.index.binary",
        "dona.index.matryoshka",
    ),
    "dona.llm_backends": (
        "dona.llm.extractive",
        "dona.llm.llamacpp",
        "dona.llm.openai_api",
        "dona.llm.rkllm.backend",
    ),
}
