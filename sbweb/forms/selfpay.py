"""Forms of 我为自己缴: pick dues, confirm them, choose how to pay."""

from wtforms import HiddenField, SubmitField
from wtforms.validators import InputRequired, Length
from wtforms.widgets import CheckboxInput, ListWidget

from sbweb.forms.base import Form, MultiCheckbox, Radio


class DuesForm(Form):
    dues = MultiCheckbox(
        "应缴费款",
        coerce=int,
        widget=ListWidget(prefix_label=False),
        option_widget=CheckboxInput(),
        validators=[InputRequired("请至少选择一笔要缴纳的费款")],
    )
    submit = SubmitField("下一步")


class ConfirmForm(Form):
    shown = HiddenField(validators=[InputRequired(), Length(max=64)])
    submit = SubmitField("下一步")


class MethodForm(Form):
    # Which confirmed selection this page was shown for: a page from an older tab can't pay
    # what a newer tab chose.
    selection = HiddenField(validators=[InputRequired(), Length(max=64)])
    channel = Radio("缴款方式", validators=[InputRequired("请选择缴款方式")])
    submit = SubmitField("去支付")
