from .referring_data_preprocessor import ReferringDataPreprocessor, pad_sequences

__all__ = ['ReferringDataPreprocessor', 'pad_sequences']
