def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "slow: takes minutes, not seconds (test_image_install.py installs the image's packages into a "
        "fresh venv); leave out with -m 'not slow'",
    )
