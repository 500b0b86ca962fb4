"""What a figure module returns: a drawn figure, or the reason it was not drawn."""


class Made:
    """A drawn figure: `name` gives report/NAME.png and NAME.svg."""

    def __init__(self, name, title, caption, fig):
        self.name, self.title, self.caption, self.fig = name, title, caption, fig


class Skipped:
    """A figure the run holds no data for, and why (shown on the page)."""

    def __init__(self, name, title, reason):
        self.name, self.title, self.reason = name, title, reason
