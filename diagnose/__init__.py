"""virtdiag: a troubleshooting assistant for libvirt/KVM hosts (explain a pasted error, scan a host)."""

__version__ = "0.1.0"
