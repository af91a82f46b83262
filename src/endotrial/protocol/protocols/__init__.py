"""The protocol files bundled with endotrial, one `<id>.yaml` per trial.

`DEFAULT_PROTOCOL_ID` is the protocol a command reads when given none: the project's first
trial. It is named here, beside the files, so the loader knows no trial by name and adding a
bundled file (whatever its id sorts as) never changes what a command reads by default.
"""

DEFAULT_PROTOCOL_ID = "nct07176143"
