"""run/daemon"""
