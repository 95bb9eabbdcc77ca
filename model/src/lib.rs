//! tokken-model: BERT, training, evaluation, Classifier API.
