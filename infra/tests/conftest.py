"""infra/tests: prints what the emulated applies measured (test_terraform.REPORT)."""


def pytest_terminal_summary(terminalreporter):
    import test_terraform

    if not test_terraform.REPORT:
        return
    terminalreporter.write_sep("-", "terraform against the emulated account")
    for mode, r in test_terraform.REPORT.items():
        times = ", ".join(f"{k} {v:.0f} s" for k, v in r.items() if k != "resources")
        terminalreporter.write_line(f"{mode:<20} {r['resources']:>3} resources   {times}")
