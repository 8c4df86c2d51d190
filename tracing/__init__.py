from tracing import native

native.use_build(__path__, __name__)  # compiled modules, when built from this very source
