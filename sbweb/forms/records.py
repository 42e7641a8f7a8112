"""Forms of 缴费记录: the tab, the filters (费款所属期 year, 险种) and the page, read from the
address. A GET query changes nothing, so no CSRF token; a value it does not know is ignored
(the records are listed unfiltered, the first page), never an error."""

from wtforms import Field

from sbweb.clock import FIRST_DAY, LAST_DAY
from sbweb.forms.base import AddressNumber, Form, KnownValue

TABS = {"own": "本人缴费", "proxy": "代缴"}


class PageNumber(Field):
    """The page asked for, clamped: 0 (or not a number) is the first, and any page past the end
    — 2**63 too — the last (records_page clamps to the pages there are)."""

    def process_formdata(self, valuelist):
        value = valuelist[0] if valuelist else ""
        digits = value.lstrip("0") if value.isascii() and value.isdigit() else ""
        if not digits:
            self.data = 1
        else:
            self.data = int(digits) if len(digits) <= 6 else 10**6


class RecordsFilterForm(Form):
    class Meta:
        csrf = False  # a GET query changes nothing
        locales = ["zh"]

    tab = KnownValue(known=tuple(TABS), default="own")
    year = AddressNumber(low=FIRST_DAY.year, high=LAST_DAY.year)
    insurance = KnownValue(known=("pension", "medical"))
    page = PageNumber(default=1)

    def chosen(self) -> dict:
        """The filters as records_page takes them."""
        return {"year": self.year.data, "insurance": self.insurance.data}
