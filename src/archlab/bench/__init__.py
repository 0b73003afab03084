"""archlab.bench"""
