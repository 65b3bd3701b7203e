from setuptools import find_packages, setup

setup(
    name="netsentinel",
    version="0.1.0",
    description="One Twisted daemon for address sets, health checks, traffic triggers "
                "and monitored TCP forwarding",
    license="MIT",
    python_requires=">=3.11",
    packages=find_packages(include=["netsentinel", "netsentinel.*"]) + ["twisted.plugins"],
    package_data={"twisted": ["plugins/netsentinel_plugin.py"]},
    install_requires=[
        "twisted[conch]>=23.10",   # conch: the manhole (SSH server, bcrypt for keys)
        "attrs",
        "pyroute2>=0.7",
        "icmplib>=3.0",
        "service-identity",
        "pyopenssl",
        "pcapy-ng",
        "pyyaml",
        "dnspython>=2.4",          # ddns rfc2136: RFC 2136 dynamic updates signed with TSIG
        # libnftables' binding: python3-nftables copied to PyPI, for venvs that cannot see
        # Debian's; where both are importable the package dir wins (the .deb drops this one)
        "pip-nftables>=1.0.2",
    ],
    extras_require={"test": ["pytest", "pytest-twisted", "mypy", "mypy-zope", "ruff==0.17.6"]},
    entry_points={"console_scripts": ["netsentinel-ctl = netsentinel.cli.ctl:main"]},
)
