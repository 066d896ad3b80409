"""The ``vae-mnist`` command line: its parser, the handlers and the one-line error policy.
"""
from ..faces import lazy_face

#: the public names of this layer and the module each lives in (imported on first use)
_HOMES = {
    "DEFAULTS": "main",
    "add_config_arguments": "main",
    "add_results_commands": "results",
    "add_training_arguments": "main",
    "build_parser": "main",
    "cmd_book": "main",
    "cmd_diff": "results",
    "cmd_evaluate": "main",
    "cmd_export": "results",
    "cmd_import": "results",
    "cmd_list": "main",
    "cmd_pdf": "main",
    "cmd_run": "main",
    "cmd_sample": "main",
    "cmd_sweep": "main",
    "cmd_train": "main",
    "config_from_args": "main",
    "existing_dir": "types",
    "int_in": "types",
    "main": "main",
    "non_negative_float": "types",
    "non_negative_int": "types",
    "positive_float": "types",
    "positive_int": "types",
    "resolve_run": "main",
    "seed_number": "types",
}

__getattr__, __dir__, __all__ = lazy_face(__name__, _HOMES, ('main', 'results', 'types'))
