"""The board's form for a ticket's public mark."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import HiddenField
from wtforms.validators import AnyOf


class PublicForm(FlaskForm):
    #: "1": show the description on the public results; "0": stop showing it.
    public = HiddenField(validators=[AnyOf(("0", "1"))])
