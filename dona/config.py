"""One typed settings object; every field can be set as an environment variable `DONA_<FIELD>`."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from dona.errors import ConfigError


def _default_data_dir() -> Path:
    return Path.home() / ".local" / "share" / "dona"


def _default_model_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "dona" / "models"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DONA_", env_file=".env", extra="ignore")

    data_dir: Path = Field(
        default_factory=_default_data_dir,
        description="Where the SQLite database (by default) and the index files live.",
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; e.g. postgresql+psycopg://user:pw@host/dona. "
        "Default: SQLite file <data_dir>/dona.db. Leave the password out and set "
        "DONA_DATABASE_PASSWORD, so any character in it works and no message can echo it.",
    )
    database_password: SecretStr | None = Field(
        default=None,
        description="Password for DONA_DATABASE_URL, kept apart from the URL (no escaping "
        "needed; never shown in a message).",
    )
    catalog: str = Field(default="default", description="Catalog used when none is named.")
    language: Literal["auto", "en", "es"] = Field(
        default="auto",
        description="Language of the pages and the CLI: auto (the browser's language in the "
        "app, LC_ALL/LC_MESSAGES/LANG in the CLI; Spanish for any es*, else English), en, es.",
    )
    embedder: str = Field(
        default="minilm-onnx",
        description="Registered embedder name (minilm-onnx, minilm-onnx-fp32, minilm) or a "
        "local sentence-transformers directory.",
    )
    model_cache_dir: Path = Field(
        default_factory=_default_model_cache_dir,
        description="Models DONA derives from installed ones (the ONNX exports); shared by "
        "every data directory, rebuilt when missing.",
    )
    embed_batch_size: int = Field(default=64, ge=1, le=4096)
    embed_max_tokens: int = Field(
        default=128, ge=16, le=512, description="Tokens per product text the embedder reads."
    )
    threads: int | None = Field(
        default=None, ge=1, description="CPU threads for embedding and index builds (default: all)."
    )
    default_currency: str = Field(default="USD", min_length=3, max_length=3)
    rrf_k: int = Field(default=60, ge=1, description="Reciprocal rank fusion constant.")
    bm25_weight: float = Field(
        default=2.0,
        ge=0,
        description="Weight of the BM25 ranking in fusion (dense = 1). Lexical matching is "
        "the stronger retriever on product titles (README, 'How it works').",
    )
    fusion_depth: int = Field(
        default=100, ge=10, description="Candidates taken from each retriever before fusion."
    )
    keep_versions: int = Field(
        default=3, ge=1, description="Catalog versions kept on disk (live one included)."
    )
    cross_lingual: bool = Field(
        default=True,
        description="Bridge query words the catalog does not use (another language) to "
        "catalog words through a multilingual embedder (dona/index/bridge.py).",
    )
    bridge_embedder: str = Field(
        default="use-m3", description="The multilingual embedder the language bridge uses."
    )
    bridge_min_similarity: float = Field(
        default=0.55,
        ge=0,
        le=1,
        description="How close a catalog word must be to a query word to stand in for it.",
    )
    bridge_original_weight: float = Field(
        default=0.25,
        ge=0,
        le=1,
        description="Weight of the shopper's own words in fusion when the bridge changed "
        "the query (the bridged words weigh 1).",
    )
    max_upload_mb: int = Field(
        default=200, ge=1, description="Largest catalog file accepted (CLI and upload page)."
    )
    signin_max_failures: int = Field(
        default=5, ge=1, description="Failed merchant sign-ins allowed per username per window."
    )
    signin_window_s: int = Field(
        default=900, ge=1, description="Sign-in rate-limit window, seconds."
    )
    signin_client_max_failures: int = Field(
        default=20,
        ge=1,
        description="Failed merchant sign-ins allowed per client (IP address) per window, "
        "whatever usernames it tries.",
    )
    signin_global_max_failures: int = Field(
        default=100,
        ge=1,
        description="Failed merchant sign-ins allowed in all per window (a brake on guessing "
        "spread over many addresses; it also refuses the right password while it holds).",
    )
    merchant_idle_timeout_s: int = Field(
        default=1800,
        ge=60,
        description="A merchant is signed out after this many seconds without a page view.",
    )

    # Chat (dona/chat/) and its language model backend (dona/llm/).
    llm_backend: str = Field(
        default="auto",
        description="auto (rkllm on a Rockchip NPU board with an .rkllm model, else "
        "llamacpp), llamacpp (local GGUF), openai (any OpenAI-compatible server), rkllm, "
        "extractive (no model), or a plugin's name.",
    )
    llm_model: str = Field(
        default="qwen2.5-1.5b",
        description="llamacpp: a bundled model name (smollm2-135m, qwen2.5-0.5b, "
        "qwen2.5-1.5b) or a .gguf path; openai: the model name the server expects; "
        "rkllm: the .rkllm file.",
    )
    llm_base_url: str | None = Field(
        default=None, description="openai: server URL, e.g. http://127.0.0.1:8080/v1."
    )
    llm_api_key: str | None = Field(default=None, description="openai: API key, if any.")
    llm_timeout_s: float = Field(default=60.0, gt=0, description="Per request, then fallback.")
    llm_max_tokens: int = Field(default=160, ge=16, le=4096, description="Answer length cap.")
    llm_temperature: float = Field(default=0.1, ge=0, le=2)
    llm_context_tokens: int = Field(default=4096, ge=512, description="llamacpp n_ctx.")
    llm_retries: int = Field(
        default=3, ge=0, le=20, description="openai: retries on HTTP 503 busy (RKLLM boards)."
    )
    rkllm_library: str = Field(
        default="librkllmrt.so", description="rkllm: the runtime library to load."
    )
    chat_products: int = Field(
        default=5, ge=1, le=20, description="Products put in the model's context per turn."
    )

    @field_validator("default_currency")
    @classmethod
    def _upper(cls, value: str) -> str:
        return value.upper()

    @field_validator("language", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'dona.db'}"

    @property
    def index_root(self) -> Path:
        return self.data_dir / "indexes"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings from the environment; an invalid DONA_* value is a plain `ConfigError`."""
    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"DONA_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigError(f"invalid setting: {problems}") from None
