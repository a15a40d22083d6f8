"""Command-line front ends of scapy-fama (argparse entry points)."""
