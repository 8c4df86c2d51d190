"""Canonical `gen_ai.provider.name` values from the many spellings emitters use (§1.4, §2.8, §7.3)."""
from __future__ import annotations

from typing import Any

_ALIASES = {
    "openai": "openai",
    "anthropic": "anthropic",
    "aws.bedrock": "aws.bedrock", "aws": "aws.bedrock", "bedrock": "aws.bedrock",
    "amazon-bedrock": "aws.bedrock", "amazon_bedrock": "aws.bedrock", "amazon": "aws.bedrock",
    "azure.ai.inference": "azure.ai.inference", "az.ai.inference": "azure.ai.inference",
    "azure.ai.openai": "azure.ai.openai", "az.ai.openai": "azure.ai.openai",
    "azure": "azure.ai.openai",  # legacy OpenLLMetry `Azure` (the OpenAI service)
    "azure-openai": "azure.ai.openai", "azure_openai": "azure.ai.openai",
    "gcp.gen_ai": "gcp.gen_ai", "google": "gcp.gen_ai",
    "gcp.vertex_ai": "gcp.vertex_ai", "vertex_ai": "gcp.vertex_ai", "vertexai": "gcp.vertex_ai",
    "google.vertex": "gcp.vertex_ai", "google-vertex": "gcp.vertex_ai",
    "gcp.gemini": "gcp.gemini", "gemini": "gcp.gemini", "google.generative-ai": "gcp.gemini",
    "google-generative-ai": "gcp.gemini",
    "cohere": "cohere",
    "deepseek": "deepseek",
    "groq": "groq",
    "ibm.watsonx.ai": "ibm.watsonx.ai", "watsonx": "ibm.watsonx.ai", "ibm": "ibm.watsonx.ai",
    "mistral_ai": "mistral_ai", "mistralai": "mistral_ai", "mistral": "mistral_ai",
    "moonshot_ai": "moonshot_ai", "moonshot": "moonshot_ai", "moonshotai": "moonshot_ai",
    "perplexity": "perplexity",
    "x_ai": "x_ai", "xai": "x_ai", "x-ai": "x_ai",
    "together_ai": "together_ai", "together": "together_ai", "togetherai": "together_ai",
    "hugging_face": "hugging_face", "huggingface": "hugging_face",
    "fireworks": "fireworks", "fireworks_ai": "fireworks",
    "ollama": "ollama", "openrouter": "openrouter", "cerebras": "cerebras", "replicate": "replicate",
    "aleph_alpha": "aleph_alpha", "ai21": "ai21", "meta": "meta",
}

_HOSTS = (
    ("api.openai.com", "openai"),
    (".openai.azure.com", "azure.ai.openai"),
    (".services.ai.azure.com", "azure.ai.inference"),
    (".models.ai.azure.com", "azure.ai.inference"),
    ("api.anthropic.com", "anthropic"),
    ("generativelanguage.googleapis.com", "gcp.gemini"),
    ("aiplatform.googleapis.com", "gcp.vertex_ai"),
    (".amazonaws.com", "aws.bedrock"),
    ("api.mistral.ai", "mistral_ai"),
    ("api.groq.com", "groq"),
    ("api.deepseek.com", "deepseek"),
    ("api.x.ai", "x_ai"),
    ("api.cohere.com", "cohere"),
    ("api.cohere.ai", "cohere"),
    ("api.perplexity.ai", "perplexity"),
    ("api.together.xyz", "together_ai"),
    ("api.fireworks.ai", "fireworks"),
    ("openrouter.ai", "openrouter"),
    ("api.moonshot.ai", "moonshot_ai"),
    ("api.moonshot.cn", "moonshot_ai"),
)

# Last resort, bare model names only: a model id names its vendor unambiguously here.
_MODEL_PREFIXES = (
    (("gpt-", "chatgpt-", "text-embedding-", "davinci", "babbage", "dall-e", "whisper"), "openai"),
    (("claude-",), "anthropic"),
    (("gemini-",), "gcp.gen_ai"),
    (("grok-",), "x_ai"),
    (("deepseek-",), "deepseek"),
    (("mistral-", "mixtral-", "codestral-", "magistral-", "ministral-", "pixtral-"), "mistral_ai"),
    (("command-",), "cohere"),
)


def canonical_provider(raw: Any) -> str:
    """Canonical id for a provider string; unknown values come back lower-cased (custom values are allowed)."""
    if not isinstance(raw, str) or not raw.strip():
        return ""
    name = raw.strip().lower()
    if name in _ALIASES:
        return _ALIASES[name]
    # Vercel-style "<vendor>.<api>" ("openai.chat", "anthropic.messages", "google.vertex.chat").
    head = name.split(".", 1)[0]
    two = ".".join(name.split(".", 2)[:2])
    return _ALIASES.get(two) or _ALIASES.get(head) or name


def provider_from_host(host: Any) -> str:
    if not isinstance(host, str):
        return ""
    host = host.strip().lower()
    for pattern, provider in _HOSTS:
        matched = host.endswith(pattern) if pattern.startswith(".") else host == pattern
        if matched and (provider != "aws.bedrock" or "bedrock" in host):
            return provider
    return ""


def provider_from_model(model: Any) -> str:
    if not isinstance(model, str):
        return ""
    name = model.strip().lower()
    if "/" in name or ":" in name:  # routed ids (openrouter "vendor/model", ollama tags): vendor unknown
        return ""
    if name in ("o1", "o3") or name.startswith(("o1-", "o3-", "o4-")):
        return "openai"
    for prefixes, provider in _MODEL_PREFIXES:
        if name.startswith(prefixes):
            return provider
    return ""


def openinference_provider(provider: Any, system: Any) -> str:
    """OpenInference splits hosting provider (`llm.provider`) and API flavour (`llm.system`): §2.8."""
    p = provider.strip().lower() if isinstance(provider, str) else ""
    s = system.strip().lower() if isinstance(system, str) else ""
    if p == "azure":
        return "azure.ai.openai" if s == "openai" else "azure.ai.inference"
    if p == "google" or (not p and s == "vertexai"):
        return "gcp.vertex_ai" if s == "vertexai" else "gcp.gen_ai"
    return canonical_provider(p or s)
