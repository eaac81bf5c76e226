"""tfbert"""
