"""The paper's published figures (Tzikas et al.), for side-by-side comparison with ours."""

# Table 1: architecture comparison (accuracy), all with Table 1's configuration.
TABLE1_ACCURACY = {"vgg16": 0.67, "resnet50": 0.70, "resnet50v2": 0.74}
TABLE1_CONFIG = {"optimizer": "adam", "initializer": "glorot_uniform", "learning_rate": 0.01, "decay": 0.9,
                 "regularizer": "l1", "augmentation": "none"}
# The final tuned model (Table 5) on DeepFashion's test split.
FINAL_ACCURACY = 0.805
