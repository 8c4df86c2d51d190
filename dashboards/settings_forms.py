from django import forms

from tracing.models import ApiKey, Membership, RedactionRule
from tracing.redaction import BUILTIN_RULES, RULE_DESCRIPTIONS, validate_pattern


class KeyForm(forms.Form):
    name = forms.CharField(max_length=100)
    scopes = forms.MultipleChoiceField(
        choices=[(ApiKey.INGEST, "ingest — may only send spans"), (ApiKey.READ, "read — may use the JSON API")],
        widget=forms.CheckboxSelectMultiple, initial=[ApiKey.INGEST],
    )


class MemberForm(forms.Form):
    username = forms.RegexField(regex=r"^[\w.@+-]+$", max_length=150)
    email = forms.EmailField(required=False)
    role = forms.ChoiceField(choices=Membership.ROLES, initial=Membership.VIEWER)


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Membership.ROLES)


class RetentionForm(forms.Form):
    retention_days = forms.IntegerField(min_value=1, max_value=3650)


class BuiltinRulesForm(forms.Form):
    enabled = forms.MultipleChoiceField(
        choices=[(name, RULE_DESCRIPTIONS[name]) for name in BUILTIN_RULES],
        widget=forms.CheckboxSelectMultiple, required=False,
    )


class RuleForm(forms.Form):
    name = forms.SlugField(max_length=60)
    pattern = forms.CharField(max_length=1000)

    def __init__(self, *args, project=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.project = project

    def clean_pattern(self):
        problem = validate_pattern(self.cleaned_data["pattern"])
        if problem:
            raise forms.ValidationError(problem)
        return self.cleaned_data["pattern"]

    def clean_name(self):
        name = self.cleaned_data["name"]
        if RedactionRule.objects.filter(project=self.project, name=name).exists():
            raise forms.ValidationError("a rule with this name exists")
        return name
