"""Redaction of secrets before a step is stored (rules land with the security work)."""


def redactor_for(project_id: int):
    def redact(data, span):
        return data

    return redact
